//! Size-class pools: five [broadcast rings](crate::broadcast), one per payload size
//! class, behind one publisher that routes each event to the smallest class that fits.
//!
//! The classes default to XS 64 B, S 256 B, M 1 KiB, L 4 KiB and XL 16 KiB of payload
//! (XS 1024 slots, S 256, M 64, L 16, XL 4: about 360 KiB in all); both sizes and slot
//! counts are const generics. A payload of exactly a class's size goes to that class; one
//! byte more goes to the next; more than the largest class is [`PoolError::TooLarge`].
//!
//! Sequences are global: the publisher numbers events across classes, so within a class
//! they increase (with gaps where other classes took events). A [`PoolReader`] merges the
//! classes by sequence and sees each event once, in publication order: the publisher
//! stores a watermark (the next sequence, Release) after each publish, and the reader
//! hands out the smallest head below a watermark it loaded (Acquire) before looking at
//! the classes, so no smaller sequence can still be on its way.
//!
//! # Example
//!
//! ```
//! use ringcore::pool::{GatedPool, SizeClass};
//!
//! static POOL: GatedPool<2> = GatedPool::new();
//!
//! let mut publisher = POOL.try_publisher().unwrap();
//! let mut reader = POOL.join().unwrap();
//! assert_eq!(publisher.try_publish(1, 0, &[0; 64]), Ok((0, SizeClass::XS)));
//! assert_eq!(publisher.try_publish(1, 0, &[0; 65]), Ok((1, SizeClass::S)));
//! assert_eq!(publisher.try_publish(1, 0, &[0; 16384]), Ok((2, SizeClass::XL)));
//! for expect in 0..3 {
//!     assert_eq!(reader.try_read(|e| e.header.seq), Ok(expect));
//! }
//! ```
//!
//! # Static footprint
//!
//! A pool is one `static` with all its slots inline. `LIMIT` (bytes, default
//! [`DEFAULT_FOOTPRINT_LIMIT`]) caps its size at compile time: a configuration whose
//! footprint exceeds it fails the build with a message naming `LIMIT`.
//!
//! ```compile_fail,E0080
//! // The default classes need about 360 KiB; a 64 KiB limit rejects them.
//! static POOL: ringcore::pool::Pool<ringcore::broadcast::Gated, 2, { 64 * 1024 }> =
//!     ringcore::pool::Pool::new();
//! ```
//!
//! # Targets and features
//!
//! As for [`broadcast`](crate::broadcast): everything builds on every target;
//! [`Pool::try_publisher`] and [`Pool::join`] need compare-and-swap (on thumbv6m and
//! riscv32imc the `critical-section` or `unsafe-assume-single-core` feature).

use crate::broadcast::wait::{WaitStrategy, Waiter};
use crate::broadcast::{
    Backpressure, Gated, Overwrite, Policy, ReadError, Reader, RecordView, Ring, WriterStats,
};
use crate::sync::{AtomicUsize, CachePadded, Ordering, atomic_usize};
#[cfg(any(
    target_has_atomic = "8",
    feature = "critical-section",
    feature = "unsafe-assume-single-core",
    ringcore_loom
))]
use crate::{
    broadcast::{JoinError, PublishError, Writer, WriterError},
    frame::FrameHeader,
};

/// The default cap on a pool's static footprint: 512 KiB.
pub const DEFAULT_FOOTPRINT_LIMIT: usize = 512 * 1024;

/// One of a pool's five size classes, smallest first.
///
/// ```
/// use ringcore::pool::SizeClass;
/// assert_eq!(SizeClass::ALL.map(|c| c.index()), [0, 1, 2, 3, 4]);
/// assert_eq!(SizeClass::M.name(), "M");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SizeClass {
    /// The smallest class (64 B by default).
    XS,
    /// 256 B by default.
    S,
    /// 1 KiB by default.
    M,
    /// 4 KiB by default.
    L,
    /// The largest class (16 KiB by default).
    XL,
}

impl SizeClass {
    /// Every class, smallest first.
    pub const ALL: [SizeClass; 5] = [Self::XS, Self::S, Self::M, Self::L, Self::XL];

    /// Position in [`SizeClass::ALL`].
    ///
    /// ```
    /// assert_eq!(ringcore::pool::SizeClass::XL.index(), 4);
    /// ```
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The class's short name.
    ///
    /// ```
    /// assert_eq!(ringcore::pool::SizeClass::XS.name(), "XS");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Self::XS => "XS",
            Self::S => "S",
            Self::M => "M",
            Self::L => "L",
            Self::XL => "XL",
        }
    }
}

impl core::fmt::Display for SizeClass {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a pool did not publish an event.
///
/// ```
/// use ringcore::pool::{GatedPool, PoolError, SizeClass};
/// static POOL: GatedPool<1> = GatedPool::new();
/// let mut p = POOL.try_publisher().unwrap();
/// assert_eq!(p.try_publish(0, 0, &[0; 16385]), Err(PoolError::TooLarge { len: 16385, max: 16384 }));
/// let _r = POOL.join().unwrap();
/// for _ in 0..4 { p.try_publish(0, 0, &[0; 10_000]).unwrap(); }
/// assert_eq!(p.try_publish(0, 0, &[0; 10_000]), Err(PoolError::Full { class: SizeClass::XL }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Gated pool: the class the event needs is full (a reader is a lap behind there).
    Full {
        /// The class the event was routed to.
        class: SizeClass,
    },
    /// The payload is larger than the largest class.
    TooLarge {
        /// The payload length.
        len: usize,
        /// The largest class's payload size.
        max: usize,
    },
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full { class } => write!(f, "size class {class} is full"),
            Self::TooLarge { len, max } => write!(
                f,
                "payload of {len} bytes exceeds the largest size class ({max} bytes)"
            ),
        }
    }
}

impl core::error::Error for PoolError {}

/// Why [`Pool::join`] or [`Pool::try_publisher`] failed.
///
/// ```
/// use ringcore::pool::{GatedPool, PoolHandleError};
/// static POOL: GatedPool<1> = GatedPool::new();
/// let _p = POOL.try_publisher().unwrap();
/// assert_eq!(POOL.try_publisher().err(), Some(PoolHandleError::AlreadyTaken));
/// let _r = POOL.join().unwrap();
/// assert_eq!(POOL.join().err(), Some(PoolHandleError::TooManyReaders { max: 1 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolHandleError {
    /// The pool's one publisher was already taken.
    AlreadyTaken,
    /// `R` readers are already registered.
    TooManyReaders {
        /// `R`.
        max: usize,
    },
}

impl core::fmt::Display for PoolHandleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::AlreadyTaken => f.write_str("the pool's publisher was already taken"),
            Self::TooManyReaders { max } => {
                write!(f, "all {max} pool reader registrations are in use")
            }
        }
    }
}

impl core::error::Error for PoolHandleError {}

/// A [`Pool`] with the [`Gated`] policy and default classes.
pub type GatedPool<const R: usize> = Pool<Gated, R>;

/// A [`Pool`] with the [`Overwrite`] policy and default classes.
pub type OverwritePool<const R: usize> = Pool<Overwrite, R>;

/// Five broadcast rings, one per size class, for one publisher and up to `R` readers
/// (each reader reads every class). `XS..XL` are the classes' payload sizes (multiples
/// of 8, strictly increasing), `*_SLOTS` their slot counts (powers of two); the total
/// size must not exceed `LIMIT` bytes. See the [module docs](self).
///
/// ```
/// use ringcore::broadcast::Gated;
/// use ringcore::pool::Pool;
/// // A small pool for a microcontroller: 16/32/64/128/256-byte classes, 8 slots each,
/// // at most 12 KiB.
/// type Small = Pool<Gated, 2, 12288, 16, 8, 32, 8, 64, 8, 128, 8, 256, 8>;
/// static POOL: Small = Small::new();
/// assert!(Small::FOOTPRINT <= 12288);
/// assert_eq!(Small::CLASS_SIZES, [16, 32, 64, 128, 256]);
/// ```
///
/// Class sizes must increase:
///
/// ```compile_fail,E0080
/// use ringcore::pool::Pool;
/// type Bad = Pool<ringcore::broadcast::Gated, 1, 65536, 64, 8, 64, 8, 128, 8, 256, 8, 512, 8>;
/// static POOL: Bad = Bad::new();
/// ```
pub struct Pool<
    P: Policy,
    const R: usize,
    const LIMIT: usize = DEFAULT_FOOTPRINT_LIMIT,
    const XS: usize = 64,
    const XS_SLOTS: usize = 1024,
    const S: usize = 256,
    const S_SLOTS: usize = 256,
    const M: usize = 1024,
    const M_SLOTS: usize = 64,
    const L: usize = 4096,
    const L_SLOTS: usize = 16,
    const XL: usize = 16384,
    const XL_SLOTS: usize = 4,
> {
    /// One past the highest sequence published (truncated to `usize`); see the module.
    watermark: CachePadded<AtomicUsize>,
    xs: Ring<P, XS_SLOTS, XS, R>,
    s: Ring<P, S_SLOTS, S, R>,
    m: Ring<P, M_SLOTS, M, R>,
    l: Ring<P, L_SLOTS, L, R>,
    xl: Ring<P, XL_SLOTS, XL, R>,
}

/// Runs `$body` with `$r` bound to the field of `$self` for class `$class`.
macro_rules! per_class {
    ($self:expr, $class:expr, |$r:ident| $body:expr) => {
        match $class {
            SizeClass::XS => {
                let $r = &mut $self.xs;
                $body
            }
            SizeClass::S => {
                let $r = &mut $self.s;
                $body
            }
            SizeClass::M => {
                let $r = &mut $self.m;
                $body
            }
            SizeClass::L => {
                let $r = &mut $self.l;
                $body
            }
            SizeClass::XL => {
                let $r = &mut $self.xl;
                $body
            }
        }
    };
}

/// Like `per_class!` over shared references.
macro_rules! per_class_ref {
    ($self:expr, $class:expr, |$r:ident| $body:expr) => {
        match $class {
            SizeClass::XS => {
                let $r = &$self.xs;
                $body
            }
            SizeClass::S => {
                let $r = &$self.s;
                $body
            }
            SizeClass::M => {
                let $r = &$self.m;
                $body
            }
            SizeClass::L => {
                let $r = &$self.l;
                $body
            }
            SizeClass::XL => {
                let $r = &$self.xl;
                $body
            }
        }
    };
}

impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> core::fmt::Debug
    for Pool<P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("xs", &self.xs)
            .field("s", &self.s)
            .field("m", &self.m)
            .field("l", &self.l)
            .field("xl", &self.xl)
            .finish_non_exhaustive()
    }
}

impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> Pool<P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>
{
    /// The classes' payload sizes, smallest first.
    pub const CLASS_SIZES: [usize; 5] = [XS, S, M, L, XL];

    /// The classes' slot counts, smallest class first.
    pub const CLASS_SLOTS: [usize; 5] = [XS_SLOTS, S_SLOTS, M_SLOTS, L_SLOTS, XL_SLOTS];

    /// The largest payload the pool accepts (the XL class's size).
    pub const MAX_PAYLOAD: usize = XL;

    /// Bytes the pool occupies (all five rings, inline).
    pub const FOOTPRINT: usize = core::mem::size_of::<Self>();

    const CHECKS: () = {
        assert!(
            XS < S && S < M && M < L && L < XL,
            "ringcore::pool::Pool: the class sizes XS < S < M < L < XL must strictly increase"
        );
        assert!(
            Self::FOOTPRINT <= LIMIT,
            "ringcore::pool::Pool: the total static footprint of the size classes exceeds LIMIT (the footprint limit in bytes, a const parameter): raise LIMIT or use fewer or smaller slots"
        );
    };

    /// An empty pool. `const`, so it can be a `static`. Fails the build if the classes
    /// do not increase or the footprint exceeds `LIMIT`.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<4> = ringcore::pool::GatedPool::new();
    /// assert!(ringcore::pool::GatedPool::<4>::FOOTPRINT <= ringcore::pool::DEFAULT_FOOTPRINT_LIMIT);
    /// ```
    #[cfg(not(ringcore_loom))]
    pub const fn new() -> Self {
        let () = Self::CHECKS;
        Self {
            watermark: CachePadded::new(atomic_usize(0)),
            xs: Ring::new(),
            s: Ring::new(),
            m: Ring::new(),
            l: Ring::new(),
            xl: Ring::new(),
        }
    }

    /// An empty pool (loom build: not `const`; loom rings keep their bookkeeping on the
    /// heap, so the footprint is smaller there).
    #[cfg(ringcore_loom)]
    pub fn new() -> Self {
        let () = Self::CHECKS;
        Self {
            watermark: CachePadded::new(atomic_usize(0)),
            xs: Ring::new(),
            s: Ring::new(),
            m: Ring::new(),
            l: Ring::new(),
            xl: Ring::new(),
        }
    }

    /// The smallest class whose size is at least `len`, or `None` if `len` exceeds the
    /// largest.
    ///
    /// ```
    /// use ringcore::pool::{GatedPool, SizeClass};
    /// type P = GatedPool<1>;
    /// assert_eq!(P::class_for(0), Some(SizeClass::XS));
    /// assert_eq!(P::class_for(64), Some(SizeClass::XS));
    /// assert_eq!(P::class_for(65), Some(SizeClass::S));
    /// assert_eq!(P::class_for(16384), Some(SizeClass::XL));
    /// assert_eq!(P::class_for(16385), None);
    /// ```
    pub const fn class_for(len: usize) -> Option<SizeClass> {
        if len <= XS {
            Some(SizeClass::XS)
        } else if len <= S {
            Some(SizeClass::S)
        } else if len <= M {
            Some(SizeClass::M)
        } else if len <= L {
            Some(SizeClass::L)
        } else if len <= XL {
            Some(SizeClass::XL)
        } else {
            None
        }
    }

    /// Hands out the pool's one publisher (it takes the writer of every class ring).
    /// Needs compare-and-swap.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert!(POOL.try_publisher().is_ok());
    /// assert!(POOL.try_publisher().is_err());
    /// ```
    #[cfg(any(
        target_has_atomic = "8",
        feature = "critical-section",
        feature = "unsafe-assume-single-core",
        ringcore_loom
    ))]
    #[allow(clippy::type_complexity)]
    pub fn try_publisher(
        &self,
    ) -> Result<
        PoolPublisher<
            '_,
            P,
            R,
            LIMIT,
            XS,
            XS_SLOTS,
            S,
            S_SLOTS,
            M,
            M_SLOTS,
            L,
            L_SLOTS,
            XL,
            XL_SLOTS,
        >,
        PoolHandleError,
    > {
        let taken = |_: WriterError| PoolHandleError::AlreadyTaken;
        // The XS writer decides: whoever gets it is the only one that tries the others.
        let xs = self.xs.try_writer().map_err(taken)?;
        Ok(PoolPublisher {
            pool: self,
            xs,
            s: self.s.try_writer().map_err(taken)?,
            m: self.m.try_writer().map_err(taken)?,
            l: self.l.try_writer().map_err(taken)?,
            xl: self.xl.try_writer().map_err(taken)?,
            next_seq: self.watermark.load(Ordering::Relaxed) as u64,
        })
    }

    /// Registers a reader of every class; it starts at the first event published after
    /// `join` returns. Needs compare-and-swap.
    ///
    /// ```
    /// use ringcore::broadcast::ReadError;
    /// static POOL: ringcore::pool::GatedPool<2> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// p.try_publish(0, 0, b"early").unwrap();
    /// let mut r = POOL.join().unwrap();
    /// assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    /// p.try_publish(0, 0, b"late").unwrap();
    /// assert_eq!(r.try_read(|e| e.header.seq), Ok(1));
    /// ```
    #[cfg(any(
        target_has_atomic = "8",
        feature = "critical-section",
        feature = "unsafe-assume-single-core",
        ringcore_loom
    ))]
    #[allow(clippy::type_complexity)]
    pub fn join(
        &self,
    ) -> Result<
        PoolReader<'_, P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>,
        PoolHandleError,
    > {
        let full = |e: JoinError| match e {
            JoinError::TooManyReaders { max } => PoolHandleError::TooManyReaders { max },
        };
        Ok(PoolReader {
            pool: self,
            xs: self.xs.join().map_err(full)?,
            s: self.s.join().map_err(full)?,
            m: self.m.join().map_err(full)?,
            l: self.l.join().map_err(full)?,
            xl: self.xl.join().map_err(full)?,
            heads: [Head::Unknown; 5],
            watermark: None,
            unreported_lost: 0,
        })
    }

    /// The ring of class XS (for its metrics).
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.xs().capacity(), 1024);
    /// ```
    pub fn xs(&self) -> &Ring<P, XS_SLOTS, XS, R> {
        &self.xs
    }

    /// The ring of class S.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.s().capacity(), 256);
    /// ```
    pub fn s(&self) -> &Ring<P, S_SLOTS, S, R> {
        &self.s
    }

    /// The ring of class M.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.m().capacity(), 64);
    /// ```
    pub fn m(&self) -> &Ring<P, M_SLOTS, M, R> {
        &self.m
    }

    /// The ring of class L.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.l().capacity(), 16);
    /// ```
    pub fn l(&self) -> &Ring<P, L_SLOTS, L, R> {
        &self.l
    }

    /// The ring of class XL.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.xl().capacity(), 4);
    /// ```
    pub fn xl(&self) -> &Ring<P, XL_SLOTS, XL, R> {
        &self.xl
    }

    /// Events published to all classes together (wrapping).
    ///
    /// ```
    /// static POOL: ringcore::pool::OverwritePool<1> = ringcore::pool::OverwritePool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// p.try_publish(0, 0, &[0; 10]).unwrap();
    /// p.try_publish(0, 0, &[0; 1000]).unwrap();
    /// assert_eq!(POOL.published(), 2);
    /// ```
    pub fn published(&self) -> usize {
        SizeClass::ALL.iter().fold(0usize, |n, c| {
            n.wrapping_add(self.class_stats(*c).published)
        })
    }

    /// The writer counters of one class's ring.
    ///
    /// ```
    /// use ringcore::pool::SizeClass;
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// p.try_publish(0, 0, &[0; 100]).unwrap();
    /// assert_eq!(POOL.class_stats(SizeClass::S).published, 1);
    /// assert_eq!(POOL.class_stats(SizeClass::XS).published, 0);
    /// ```
    pub fn class_stats(&self, class: SizeClass) -> WriterStats {
        per_class_ref!(self, class, |ring| ring.writer_stats())
    }

    /// The slowest reader's backpressure in the class where it is highest (by ratio),
    /// with that class.
    ///
    /// ```
    /// use ringcore::pool::SizeClass;
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let _r = POOL.join().unwrap();
    /// for _ in 0..3 { p.try_publish(0, 0, &[0; 5000]).unwrap(); }
    /// let (class, b) = POOL.max_backpressure();
    /// assert_eq!((class, b.lag, b.should_throttle()), (SizeClass::XL, 3, true));
    /// ```
    pub fn max_backpressure(&self) -> (SizeClass, Backpressure) {
        let mut worst = (SizeClass::XS, self.xs.max_backpressure());
        for class in [SizeClass::S, SizeClass::M, SizeClass::L, SizeClass::XL] {
            let b = per_class_ref!(self, class, |ring| ring.max_backpressure());
            if b.backpressure_ratio() > worst.1.backpressure_ratio() {
                worst = (class, b);
            }
        }
        worst
    }
}

#[cfg(not(ringcore_loom))]
impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> Default for Pool<P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The one publisher of a [`Pool`]: routes each event to its class and numbers events
/// globally. `Send`, not `Sync`. Dropping it closes every class.
#[cfg(any(
    target_has_atomic = "8",
    feature = "critical-section",
    feature = "unsafe-assume-single-core",
    ringcore_loom
))]
pub struct PoolPublisher<
    'a,
    P: Policy,
    const R: usize,
    const LIMIT: usize = DEFAULT_FOOTPRINT_LIMIT,
    const XS: usize = 64,
    const XS_SLOTS: usize = 1024,
    const S: usize = 256,
    const S_SLOTS: usize = 256,
    const M: usize = 1024,
    const M_SLOTS: usize = 64,
    const L: usize = 4096,
    const L_SLOTS: usize = 16,
    const XL: usize = 16384,
    const XL_SLOTS: usize = 4,
> {
    pool: &'a Pool<P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>,
    xs: Writer<'a, P, XS_SLOTS, XS, R>,
    s: Writer<'a, P, S_SLOTS, S, R>,
    m: Writer<'a, P, M_SLOTS, M, R>,
    l: Writer<'a, P, L_SLOTS, L, R>,
    xl: Writer<'a, P, XL_SLOTS, XL, R>,
    next_seq: u64,
}

#[cfg(any(
    target_has_atomic = "8",
    feature = "critical-section",
    feature = "unsafe-assume-single-core",
    ringcore_loom
))]
impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> core::fmt::Debug
    for PoolPublisher<
        '_,
        P,
        R,
        LIMIT,
        XS,
        XS_SLOTS,
        S,
        S_SLOTS,
        M,
        M_SLOTS,
        L,
        L_SLOTS,
        XL,
        XL_SLOTS,
    >
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolPublisher")
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

#[cfg(any(
    target_has_atomic = "8",
    feature = "critical-section",
    feature = "unsafe-assume-single-core",
    ringcore_loom
))]
impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> PoolPublisher<'_, P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>
{
    /// Publishes one event to the smallest class that fits it; returns its (global)
    /// sequence and the class. Never blocks: a full class of a gated pool is
    /// [`PoolError::Full`].
    ///
    /// ```
    /// use ringcore::pool::{GatedPool, SizeClass};
    /// static POOL: GatedPool<1> = GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// assert_eq!(p.try_publish(0, 0, &[0; 256]), Ok((0, SizeClass::S)));
    /// assert_eq!(p.try_publish(0, 0, &[0; 257]), Ok((1, SizeClass::M)));
    /// ```
    pub fn try_publish(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<(u64, SizeClass), PoolError> {
        let len = payload.len();
        let class = Pool::<
            P,
            R,
            LIMIT,
            XS,
            XS_SLOTS,
            S,
            S_SLOTS,
            M,
            M_SLOTS,
            L,
            L_SLOTS,
            XL,
            XL_SLOTS,
        >::class_for(len)
        .ok_or(PoolError::TooLarge { len, max: XL })?;
        let header = FrameHeader {
            seq: self.next_seq,
            timestamp_ns,
            len: 0,
            kind,
            flags: 0,
        };
        let result = per_class!(self, class, |w| w.try_publish_frame(header, payload));
        match result {
            Ok(seq) => {
                self.next_seq = seq.wrapping_add(1);
                // Release: a reader that loads the watermark with Acquire sees this
                // event (and every earlier one) published in its class ring.
                self.pool
                    .watermark
                    .store(self.next_seq as usize, Ordering::Release);
                Ok((seq, class))
            }
            Err(PublishError::Full) => Err(PoolError::Full { class }),
            Err(PublishError::TooLarge { len, max }) => Err(PoolError::TooLarge { len, max }),
        }
    }

    /// Like [`PoolPublisher::try_publish`], but waits with `wait` while the class is full
    /// and notifies `wait` afterwards. Fails only with [`PoolError::TooLarge`].
    ///
    /// ```
    /// use ringcore::broadcast::wait::BusySpin;
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// assert_eq!(p.publish_wait(&BusySpin, 0, 0, b"x").map(|(seq, _)| seq), Ok(0));
    /// ```
    pub fn publish_wait<W: WaitStrategy>(
        &mut self,
        wait: &W,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<(u64, SizeClass), PoolError> {
        let mut waiter = wait.waiter();
        loop {
            match self.try_publish(kind, timestamp_ns, payload) {
                Err(PoolError::Full { .. }) => waiter.idle(),
                result => {
                    wait.notify();
                    return result;
                }
            }
        }
    }

    /// The sequence the next event gets.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// p.try_publish(0, 0, b"").unwrap();
    /// assert_eq!(p.next_seq(), 1);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// What a [`PoolReader`] knows about one class's next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Not looked at since the last read from this class or watermark load.
    Unknown,
    /// Empty when looked at after the current watermark was loaded.
    Empty,
    /// Closed and drained.
    Closed,
    /// The next event's sequence.
    Seq(u64),
}

/// A reader of every class of a [`Pool`], merging them by sequence: it sees each event
/// once, in publication order. `Send`, not `Sync`; dropping it leaves every class.
pub struct PoolReader<
    'a,
    P: Policy,
    const R: usize,
    const LIMIT: usize = DEFAULT_FOOTPRINT_LIMIT,
    const XS: usize = 64,
    const XS_SLOTS: usize = 1024,
    const S: usize = 256,
    const S_SLOTS: usize = 256,
    const M: usize = 1024,
    const M_SLOTS: usize = 64,
    const L: usize = 4096,
    const L_SLOTS: usize = 16,
    const XL: usize = 16384,
    const XL_SLOTS: usize = 4,
> {
    pool: &'a Pool<P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>,
    xs: Reader<'a, P, XS_SLOTS, XS, R>,
    s: Reader<'a, P, S_SLOTS, S, R>,
    m: Reader<'a, P, M_SLOTS, M, R>,
    l: Reader<'a, P, L_SLOTS, L, R>,
    xl: Reader<'a, P, XL_SLOTS, XL, R>,
    heads: [Head; 5],
    /// Events lost to a lap found in the middle of a batch: the batch ends early and the
    /// next read reports them as `Lagged`, so a caller that adds up `Lagged` counts gets
    /// exactly [`PoolReader::lost`].
    unreported_lost: usize,
    /// The watermark loaded (Acquire) before the classes marked `Empty` were looked at.
    watermark: Option<usize>,
}

impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> core::fmt::Debug
    for PoolReader<'_, P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolReader")
            .field("seen", &self.seen())
            .field("lost", &self.lost())
            .finish_non_exhaustive()
    }
}

impl<
    P: Policy,
    const R: usize,
    const LIMIT: usize,
    const XS: usize,
    const XS_SLOTS: usize,
    const S: usize,
    const S_SLOTS: usize,
    const M: usize,
    const M_SLOTS: usize,
    const L: usize,
    const L_SLOTS: usize,
    const XL: usize,
    const XL_SLOTS: usize,
> PoolReader<'_, P, R, LIMIT, XS, XS_SLOTS, S, S_SLOTS, M, M_SLOTS, L, L_SLOTS, XL, XL_SLOTS>
{
    /// The class holding the smallest sequence below the watermark, looking at classes
    /// as needed.
    fn next_class(&mut self) -> Result<SizeClass, ReadError> {
        let mut looked_again = false;
        loop {
            if let Some(watermark) = self.watermark {
                let mut best: Option<(SizeClass, u64)> = None;
                let mut all_closed = true;
                for class in SizeClass::ALL {
                    let i = class.index();
                    if self.heads[i] == Head::Unknown {
                        self.heads[i] = match per_class!(self, class, |r| r.peek_header()) {
                            Ok(h) => Head::Seq(h.seq),
                            Err(ReadError::Empty) => Head::Empty,
                            Err(ReadError::Closed) => Head::Closed,
                            Err(lagged) => return Err(lagged),
                        };
                    }
                    match self.heads[i] {
                        Head::Seq(seq) => {
                            all_closed = false;
                            // Below the watermark (wrapping), and the smallest so far.
                            let below = ((seq as usize).wrapping_sub(watermark) as isize) < 0;
                            let smaller =
                                best.is_none_or(|(_, b)| (seq.wrapping_sub(b) as i64) < 0);
                            if below && smaller {
                                best = Some((class, seq));
                            }
                        }
                        Head::Closed => {}
                        _ => all_closed = false,
                    }
                }
                if let Some((class, _)) = best {
                    return Ok(class);
                }
                if all_closed {
                    return Err(ReadError::Closed);
                }
            }
            // Acquire: every event below the watermark is visible in its class ring to
            // the class reads that follow.
            let watermark = self.pool.watermark.load(Ordering::Acquire);
            if self.watermark == Some(watermark) {
                if looked_again {
                    return Err(ReadError::Empty);
                }
                // Nothing new below the watermark; look at the empty classes once more
                // only to notice that the publisher closed them.
                looked_again = true;
                for h in &mut self.heads {
                    if *h == Head::Empty {
                        *h = Head::Unknown;
                    }
                }
                continue;
            }
            self.watermark = Some(watermark);
            for h in &mut self.heads {
                if matches!(h, Head::Empty | Head::Closed) {
                    *h = Head::Unknown;
                }
            }
        }
    }

    /// Reads the next event in sequence order across all classes: calls `f` with it and
    /// returns what `f` returns. Errors: [`ReadError::Empty`], [`ReadError::Closed`] (the
    /// publisher was dropped and everything was read), and in an overwrite pool
    /// [`ReadError::Lagged`] with the events lost in the class that lapped this reader.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let mut r = POOL.join().unwrap();
    /// for len in [3000, 10, 300, 10] { p.try_publish(0, 0, &vec![1; len]).unwrap(); }
    /// let mut lens = Vec::new();
    /// while let Ok(()) = r.try_read(|e| lens.push(e.payload.len())) {}
    /// assert_eq!(lens, [3000, 10, 300, 10]);
    /// ```
    pub fn try_read<T>(&mut self, f: impl FnOnce(RecordView<'_>) -> T) -> Result<T, ReadError> {
        if self.unreported_lost > 0 {
            return Err(ReadError::Lagged(core::mem::take(
                &mut self.unreported_lost,
            )));
        }
        let class = self.next_class()?;
        self.heads[class.index()] = Head::Unknown;
        per_class!(self, class, |r| r.try_read(f))
    }

    /// Reads up to `max` events in sequence order, calling `f` for each; returns how many
    /// (at least 1). Errors as [`PoolReader::try_read`], reported only when nothing was
    /// read.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let mut r = POOL.join().unwrap();
    /// for len in [1, 100, 1000] { p.try_publish(0, 0, &vec![0; len]).unwrap(); }
    /// let mut seqs = Vec::new();
    /// assert_eq!(r.read_batch(10, |e| seqs.push(e.header.seq)), Ok(3));
    /// assert_eq!(seqs, [0, 1, 2]);
    /// ```
    pub fn read_batch(
        &mut self,
        max: usize,
        mut f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, ReadError> {
        let mut done = 0;
        while done < max.max(1) {
            match self.try_read(&mut f) {
                Ok(()) => done += 1,
                Err(e) if done == 0 => return Err(e),
                Err(ReadError::Lagged(n)) => {
                    self.unreported_lost += n;
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// Like [`PoolReader::read_batch`], but waits with `wait` while the pool is empty; in
    /// a gated pool it notifies `wait` after reading.
    ///
    /// ```
    /// use ringcore::broadcast::wait::BusySpin;
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let mut r = POOL.join().unwrap();
    /// p.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(r.read_batch_wait(&BusySpin, 8, |_| ()), Ok(1));
    /// ```
    pub fn read_batch_wait<W: WaitStrategy>(
        &mut self,
        wait: &W,
        max: usize,
        mut f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, ReadError> {
        let mut waiter = wait.waiter();
        loop {
            match self.read_batch(max, &mut f) {
                Err(ReadError::Empty) => waiter.idle(),
                result => {
                    if !P::OVERWRITE {
                        wait.notify();
                    }
                    return result;
                }
            }
        }
    }

    /// Events read since joining, over all classes.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let mut r = POOL.join().unwrap();
    /// p.try_publish(0, 0, &[0; 2000]).unwrap();
    /// r.try_read(|_| ()).unwrap();
    /// assert_eq!(r.seen(), 1);
    /// ```
    pub fn seen(&self) -> usize {
        self.xs.seen() + self.s.seen() + self.m.seen() + self.l.seen() + self.xl.seen()
    }

    /// Events lost to overwrite since joining, over all classes.
    ///
    /// ```
    /// static POOL: ringcore::pool::OverwritePool<1> = ringcore::pool::OverwritePool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let mut r = POOL.join().unwrap();
    /// for _ in 0..6 { p.try_publish(0, 0, &[0; 10_000]).unwrap(); }
    /// assert_eq!(r.try_read(|_| ()), Err(ringcore::broadcast::ReadError::Lagged(2)));
    /// assert_eq!(r.lost(), 2);
    /// ```
    pub fn lost(&self) -> usize {
        self.xs.lost() + self.s.lost() + self.m.lost() + self.l.lost() + self.xl.lost()
    }

    /// This reader's backpressure in the class where it is highest (by ratio).
    ///
    /// ```
    /// use ringcore::pool::SizeClass;
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let r = POOL.join().unwrap();
    /// p.try_publish(0, 0, &[0; 3000]).unwrap();
    /// let (class, b) = r.backpressure();
    /// assert_eq!((class, b.lag, b.capacity), (SizeClass::L, 1, 16));
    /// ```
    pub fn backpressure(&self) -> (SizeClass, Backpressure) {
        let mut worst = (SizeClass::XS, self.xs.backpressure());
        for class in [SizeClass::S, SizeClass::M, SizeClass::L, SizeClass::XL] {
            let b = per_class_ref!(self, class, |r| r.backpressure());
            if b.backpressure_ratio() > worst.1.backpressure_ratio() {
                worst = (class, b);
            }
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast::wait::SpinThenYield;
    use std::boxed::Box;
    use std::vec::Vec;

    /// A pool small enough for Miri: 8/16/32/64/128-byte classes.
    type Tiny<P> = Pool<P, 2, 16384, 8, 4, 16, 4, 32, 4, 64, 2, 128, 2>;

    fn pattern(seq: u64, i: usize) -> u8 {
        (seq as u8).wrapping_mul(29).wrapping_add(i as u8)
    }

    fn fill(seq: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| pattern(seq, i)).collect()
    }

    /// Rings and pools too large for a test thread's stack live on the heap; threads
    /// borrow them inside `std::thread::scope`.
    fn boxed<T>(value: T) -> Box<T> {
        Box::new(value)
    }

    #[test]
    fn defaults_fit_the_default_limit() {
        const { assert!(GatedPool::<4>::FOOTPRINT <= DEFAULT_FOOTPRINT_LIMIT) };
        const { assert!(OverwritePool::<8>::FOOTPRINT <= DEFAULT_FOOTPRINT_LIMIT) };
        assert_eq!(GatedPool::<1>::CLASS_SIZES, [64, 256, 1024, 4096, 16384]);
        assert_eq!(GatedPool::<1>::CLASS_SLOTS, [1024, 256, 64, 16, 4]);
        // Slots dominate: at least their bytes, and not more than a few lines over.
        let slots: usize = GatedPool::<1>::CLASS_SIZES
            .iter()
            .zip(GatedPool::<1>::CLASS_SLOTS)
            .map(|(size, n)| (size + 24) * n)
            .sum();
        assert!(GatedPool::<1>::FOOTPRINT >= slots);
        assert!(GatedPool::<1>::FOOTPRINT <= slots + 64 * 128);
    }

    #[test]
    fn exact_class_sizes_and_one_byte_over() {
        let owned = boxed(GatedPool::<1>::new());
        let pool = &*owned;
        let mut p = pool.try_publisher().unwrap();
        let mut r = pool.join().unwrap();
        let mut expect = Vec::new();
        for (i, class) in SizeClass::ALL.into_iter().enumerate() {
            let size = GatedPool::<1>::CLASS_SIZES[i];
            let seq = p.next_seq();
            assert_eq!(
                p.try_publish(1, 0, &fill(seq, size)),
                Ok((seq, class)),
                "{size} bytes"
            );
            expect.push((seq, size));
            if let Some(next) = SizeClass::ALL.get(i + 1) {
                let seq = p.next_seq();
                assert_eq!(
                    p.try_publish(2, 0, &fill(seq, size + 1)),
                    Ok((seq, *next)),
                    "{} bytes",
                    size + 1
                );
                expect.push((seq, size + 1));
            }
        }
        assert_eq!(
            p.try_publish(0, 0, &[0; 16385]),
            Err(PoolError::TooLarge {
                len: 16385,
                max: 16384
            })
        );
        assert_eq!(p.next_seq(), 9, "a rejected event takes no sequence");
        assert_eq!(pool.class_stats(SizeClass::XS).published, 1);
        assert_eq!(pool.class_stats(SizeClass::S).published, 2);
        assert_eq!(pool.class_stats(SizeClass::XL).published, 2);
        for (seq, len) in expect {
            let got = r
                .try_read(|e| {
                    assert_eq!(e.payload, &fill(e.header.seq, e.payload.len())[..]);
                    (e.header.seq, e.payload.len())
                })
                .unwrap();
            assert_eq!(got, (seq, len));
        }
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
        drop(p);
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Closed));
    }

    #[test]
    fn merge_yields_global_order_once() {
        let pool = Tiny::<Gated>::new();
        let mut p = pool.try_publisher().unwrap();
        let mut r = pool.join().unwrap();
        let mut next = 0u64;
        let rounds = if cfg!(miri) { 30 } else { 2000 };
        for round in 0..rounds {
            // Publish until some class is full, then read a few.
            loop {
                let seq = p.next_seq();
                let len = (seq as usize * 37 + round) % 129;
                match p.try_publish(0, seq, &fill(seq, len)) {
                    Ok((s, _)) => assert_eq!(s, seq),
                    Err(PoolError::Full { class }) => {
                        assert_eq!(Tiny::<Gated>::class_for(len), Some(class));
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            let take = 1 + round % 7;
            let _ = r.read_batch(take, |e| {
                assert_eq!(e.header.seq, next);
                assert_eq!(e.header.timestamp_ns, next);
                assert_eq!(e.payload, &fill(next, e.payload.len())[..]);
                next += 1;
            });
        }
        while r.try_read(|e| assert_eq!(e.header.seq, next)).is_ok() {
            next += 1;
        }
        assert_eq!(next, p.next_seq());
        assert_eq!(r.seen() as u64, next);
    }

    #[test]
    fn overwrite_pool_counts_losses() {
        let pool = Tiny::<Overwrite>::new();
        let mut p = pool.try_publisher().unwrap();
        let mut r = pool.join().unwrap();
        let total = if cfg!(miri) { 100 } else { 5000 };
        let (mut seen, mut lost) = (0usize, 0usize);
        let mut last: Option<u64> = None;
        for i in 0..total {
            let seq = p.next_seq();
            p.try_publish(0, 0, &fill(seq, (i * 13) % 129)).unwrap();
            if i % 5 == 0 {
                loop {
                    match r.try_read(|e| {
                        assert_eq!(e.payload, &fill(e.header.seq, e.payload.len())[..]);
                        e.header.seq
                    }) {
                        Ok(seq) => {
                            assert!(last.is_none_or(|l| seq > l), "increasing");
                            last = Some(seq);
                            seen += 1;
                        }
                        Err(ReadError::Lagged(n)) => lost += n,
                        Err(ReadError::Empty) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
        loop {
            match r.try_read(|_| ()) {
                Ok(()) => seen += 1,
                Err(ReadError::Lagged(n)) => lost += n,
                Err(_) => break,
            }
        }
        assert!(lost > 0);
        assert_eq!(r.lost(), lost);
        assert_eq!(seen + lost, total, "seen {seen} lost {lost}");
        assert_eq!(pool.published(), total);
    }

    #[test]
    fn overwrite_pool_batches_report_every_loss_while_the_writer_runs() {
        // A lap found in the middle of a batch (the writer lapped a class after the batch
        // started) ends the batch; the next read reports it, so the Lagged counts a caller
        // adds up equal lost() exactly.
        let owned = boxed(Tiny::<Overwrite>::new());
        let pool = &*owned;
        let mut p = pool.try_publisher().unwrap();
        let mut r = pool.join().unwrap();
        let total = if cfg!(miri) { 300 } else { 200_000 };
        let (seen, lost) = std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..total {
                    let seq = p.next_seq();
                    p.try_publish(0, 0, &fill(seq, (i * 29) % 129)).unwrap();
                }
            });
            let (mut seen, mut lost) = (0usize, 0usize);
            loop {
                match r.read_batch(8, |e| {
                    assert_eq!(e.payload, &fill(e.header.seq, e.payload.len())[..]);
                    seen += 1;
                }) {
                    Ok(_) | Err(ReadError::Empty) => {}
                    Err(ReadError::Lagged(n)) => lost += n,
                    Err(ReadError::Closed) => break,
                }
            }
            (seen, lost)
        });
        assert_eq!((seen, lost), (r.seen(), r.lost()));
        assert_eq!(seen + lost, total, "seen {seen} lost {lost}");
    }

    #[test]
    fn threads_mixed_sizes_every_reader_sees_every_event_in_order() {
        let owned = boxed(Tiny::<Gated>::new());
        let pool = &*owned;
        let mut p = pool.try_publisher().unwrap();
        let readers = [pool.join().unwrap(), pool.join().unwrap()];
        let total: u64 = if cfg!(miri) { 150 } else { 50_000 };
        let wait = SpinThenYield::default();
        std::thread::scope(|s| {
            let handles = readers.map(|mut r| {
                let wait = &wait;
                s.spawn(move || {
                    let mut next = 0u64;
                    loop {
                        match r.read_batch_wait(wait, 8, |e| {
                            assert_eq!(e.header.seq, next);
                            assert_eq!(e.payload.len(), (next as usize * 37) % 129);
                            assert_eq!(e.payload, &fill(next, e.payload.len())[..]);
                            next += 1;
                        }) {
                            Ok(_) => {}
                            Err(ReadError::Closed) => return next,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            });
            for seq in 0..total {
                let len = (seq as usize * 37) % 129;
                assert_eq!(
                    p.publish_wait(&wait, 0, 0, &fill(seq, len)).map(|(s, _)| s),
                    Ok(seq)
                );
            }
            drop(p);
            for h in handles {
                assert_eq!(h.join().unwrap(), total);
            }
        });
    }

    #[test]
    fn handles_are_limited() {
        let pool = Tiny::<Gated>::new();
        let _p = pool.try_publisher().unwrap();
        assert_eq!(
            pool.try_publisher().err(),
            Some(PoolHandleError::AlreadyTaken)
        );
        let a = pool.join().unwrap();
        let _b = pool.join().unwrap();
        assert_eq!(
            pool.join().err(),
            Some(PoolHandleError::TooManyReaders { max: 2 })
        );
        drop(a);
        assert!(pool.join().is_ok());
    }
}
