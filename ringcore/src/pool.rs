//! Size-class pools: five [broadcast rings](crate::broadcast), one per payload size
//! class, behind one publisher that routes each event to the smallest class that fits.
//!
//! The classes default to XS 64 B, S 256 B, M 1 KiB, L 4 KiB and XL 16 KiB of payload
//! (XS 1024 slots, S 256, M 64, L 16, XL 4: about 360 KiB in all: [`DefaultClasses`]);
//! a pool with other classes names every size and slot count with [`pool_classes!`]
//! (see [`PoolClasses`]). A payload of exactly a class's size goes to that class; one
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
//! A pool is one `static` with all its slots inline. The classes'
//! [`FOOTPRINT_LIMIT`](PoolClasses::FOOTPRINT_LIMIT) (bytes, by default
//! [`DEFAULT_FOOTPRINT_LIMIT`]) caps its size at compile time: a configuration whose
//! footprint exceeds it fails the build with a message naming the limit.
//!
//! ```compile_fail,E0080
//! // The default classes need about 360 KiB; a 64 KiB limit rejects them.
//! ringcore::pool_classes! {
//!     struct Tight {
//!         footprint_limit: 64 * 1024,
//!         xs: { size: 64, slots: 1024 },
//!         s: { size: 256, slots: 256 },
//!         m: { size: 1024, slots: 64 },
//!         l: { size: 4096, slots: 16 },
//!         xl: { size: 16384, slots: 4 },
//!     }
//! }
//! static POOL: ringcore::pool::GatedPool<2, Tight> = ringcore::pool::Pool::new();
//! ```
//!
//! # Targets and features
//!
//! As for [`broadcast`](crate::broadcast): everything builds on every target;
//! [`Pool::try_publisher`] and [`Pool::join`] need compare-and-swap (on thumbv6m and
//! riscv32imc the `critical-section` or `unsafe-assume-single-core` feature).

use crate::broadcast::{
    Backpressure, Gated, Overwrite, Policy, ReadError, RecordView, Ring, WriterStats,
};
use crate::sync::{AtomicUsize, CachePadded, Ordering, atomic_usize, const_unless_loom};
use crate::wait::{Signal, WaitStrategy, Waiter};
#[cfg(ringcore_cas)]
use crate::{
    broadcast::{JoinError, PublishError, WriterError},
    frame::FrameHeader,
};

#[cfg(ringcore_cas)]
use self::ops::WriterOps;
use self::ops::{ReaderOps, RingOps};

/// The default cap on a pool's static footprint: 512 KiB.
pub const DEFAULT_FOOTPRINT_LIMIT: usize = 512 * 1024;

/// The five size classes of a [`Pool`] and the cap on its footprint.
///
/// Each class is a broadcast [`Ring`] whose slot count and payload size the class set
/// chooses, given as a generic associated type so that the pool holds the rings inline
/// for any policy `P` and reader count `R`. Define a class set with [`pool_classes!`],
/// which names every size and slot count (so the two cannot be swapped by accident):
///
/// ```
/// use ringcore::pool::{Pool, PoolClasses, SizeClass};
/// use ringcore::broadcast::Gated;
///
/// ringcore::pool_classes! {
///     /// 16 to 256-byte classes, 8 slots each, for a microcontroller.
///     pub struct Small {
///         footprint_limit: 12 * 1024,
///         xs: { size: 16, slots: 8 },
///         s: { size: 32, slots: 8 },
///         m: { size: 64, slots: 8 },
///         l: { size: 128, slots: 8 },
///         xl: { size: 256, slots: 8 },
///     }
/// }
/// type SmallPool = Pool<Gated, 2, Small>;
/// static POOL: SmallPool = SmallPool::new();
/// assert_eq!(Small::FOOTPRINT_LIMIT, 12 * 1024);
/// assert!(SmallPool::FOOTPRINT <= 12 * 1024);
/// assert_eq!(SmallPool::CLASS_SIZES, [16, 32, 64, 128, 256]);
/// assert_eq!(SmallPool::class_for(100), Some(SizeClass::L));
/// ```
pub trait PoolClasses: 'static {
    /// The most bytes a pool of these classes may occupy; a larger one fails the build.
    const FOOTPRINT_LIMIT: usize;
    /// The ring of class XS, the smallest.
    type Xs<P: Policy, const R: usize>: ClassRing<Policy = P>;
    /// The ring of class S.
    type S<P: Policy, const R: usize>: ClassRing<Policy = P>;
    /// The ring of class M.
    type M<P: Policy, const R: usize>: ClassRing<Policy = P>;
    /// The ring of class L.
    type L<P: Policy, const R: usize>: ClassRing<Policy = P>;
    /// The ring of class XL, the largest.
    type Xl<P: Policy, const R: usize>: ClassRing<Policy = P>;
}

/// A broadcast ring serving as one class of a [`Pool`]: [`Ring`] is the only one.
///
/// ```
/// use ringcore::broadcast::{Gated, Ring};
/// use ringcore::pool::ClassRing;
/// assert_eq!(<Ring<Gated, 1024, 64, 1> as ClassRing>::SIZE, 64);
/// assert_eq!(<Ring<Gated, 1024, 64, 1> as ClassRing>::SLOTS, 1024);
/// ```
pub trait ClassRing: ops::RingOps + core::fmt::Debug + Sync + 'static {
    /// The ring's policy.
    type Policy: Policy;
    /// Payload bytes per slot: the largest event of the class.
    const SIZE: usize;
    /// Slots in the ring.
    const SLOTS: usize;
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> ClassRing
    for Ring<P, N, PAYLOAD, R>
{
    type Policy = P;
    const SIZE: usize = PAYLOAD;
    const SLOTS: usize = N;
}

/// What a pool does with its class rings and their handles, whatever their sizes: the
/// ring's own methods, behind traits so that [`Pool`] can be generic over its classes.
/// Sealed: public only to appear in [`ClassRing`]'s bounds.
mod ops {
    use super::*;
    use crate::broadcast::{Reader, Writer};

    pub trait RingOps: Sized {
        type Writer<'a>: WriterOps
        where
            Self: 'a;
        type Reader<'a>: ReaderOps
        where
            Self: 'a;
        /// An empty ring (`const` where the build allows it).
        #[cfg(not(ringcore_loom))]
        #[allow(clippy::declare_interior_mutable_const)] // a fresh ring at every use
        const EMPTY: Self;
        #[cfg(ringcore_loom)]
        fn empty() -> Self;
        #[cfg(ringcore_cas)]
        fn writer(&self) -> Result<Self::Writer<'_>, WriterError>;
        #[cfg(ringcore_cas)]
        fn reader(&self) -> Result<Self::Reader<'_>, JoinError>;
        fn stats(&self) -> WriterStats;
        fn worst_backpressure(&self) -> Backpressure;
    }

    pub trait WriterOps {
        /// See [`Writer::give_back`].
        #[cfg(ringcore_cas)]
        fn give_back(self);
        #[cfg(ringcore_cas)]
        fn publish_frame(
            &mut self,
            header: FrameHeader,
            payload: &[u8],
        ) -> Result<u64, PublishError>;
    }

    pub trait ReaderOps {
        fn peek(&mut self) -> Result<u64, ReadError>;
        fn read<T>(&mut self, f: impl FnOnce(RecordView<'_>) -> T) -> Result<T, ReadError>;
        fn counts(&self) -> (usize, usize);
        fn pressure(&self) -> Backpressure;
    }

    impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> RingOps
        for Ring<P, N, PAYLOAD, R>
    {
        type Writer<'a> = Writer<'a, P, N, PAYLOAD, R>;
        type Reader<'a> = Reader<'a, P, N, PAYLOAD, R>;
        #[cfg(not(ringcore_loom))]
        #[allow(clippy::declare_interior_mutable_const)] // a fresh ring at every use
        const EMPTY: Self = Self::new();
        #[cfg(ringcore_loom)]
        fn empty() -> Self {
            Self::new()
        }
        #[cfg(ringcore_cas)]
        fn writer(&self) -> Result<Self::Writer<'_>, WriterError> {
            self.try_writer()
        }
        #[cfg(ringcore_cas)]
        fn reader(&self) -> Result<Self::Reader<'_>, JoinError> {
            self.join()
        }
        fn stats(&self) -> WriterStats {
            self.writer_stats()
        }
        fn worst_backpressure(&self) -> Backpressure {
            self.max_backpressure()
        }
    }

    impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> WriterOps
        for Writer<'_, P, N, PAYLOAD, R>
    {
        #[cfg(ringcore_cas)]
        fn give_back(self) {
            Writer::give_back(self)
        }
        #[cfg(ringcore_cas)]
        fn publish_frame(
            &mut self,
            header: FrameHeader,
            payload: &[u8],
        ) -> Result<u64, PublishError> {
            self.try_publish_frame(header, payload)
        }
    }

    impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> ReaderOps
        for Reader<'_, P, N, PAYLOAD, R>
    {
        fn peek(&mut self) -> Result<u64, ReadError> {
            self.peek_header().map(|h| h.seq)
        }
        fn read<T>(&mut self, f: impl FnOnce(RecordView<'_>) -> T) -> Result<T, ReadError> {
            self.try_read(f)
        }
        fn counts(&self) -> (usize, usize) {
            (self.seen(), self.lost())
        }
        fn pressure(&self) -> Backpressure {
            self.backpressure()
        }
    }
}

/// Defines a set of pool classes: a unit struct implementing [`PoolClasses`], every
/// class's payload `size` (bytes, a multiple of 8) and `slots` (a power of two) named,
/// and optionally the `footprint_limit` (bytes; [`DEFAULT_FOOTPRINT_LIMIT`] when left
/// out). Sizes must increase from `xs` to `xl`; a pool of the classes checks that, and
/// its footprint, when it is built.
///
/// ```
/// use ringcore::pool::{Pool, PoolClasses};
/// use ringcore::broadcast::Overwrite;
///
/// ringcore::pool_classes! {
///     /// Classes for small telemetry events and rare large dumps.
///     pub struct Telemetry {
///         xs: { size: 32, slots: 256 },
///         s: { size: 64, slots: 128 },
///         m: { size: 128, slots: 64 },
///         l: { size: 512, slots: 16 },
///         xl: { size: 4096, slots: 2 },
///     }
/// }
/// static POOL: Pool<Overwrite, 4, Telemetry> = Pool::new();
/// assert_eq!(Telemetry::FOOTPRINT_LIMIT, ringcore::pool::DEFAULT_FOOTPRINT_LIMIT);
/// assert_eq!(POOL.xl().capacity(), 2);
/// ```
///
/// Sizes and slot counts are named, and must come in that order:
///
/// ```compile_fail
/// ringcore::pool_classes! {
///     struct Swapped {
///         xs: { slots: 8, size: 16 },
///         s: { size: 32, slots: 8 },
///         m: { size: 64, slots: 8 },
///         l: { size: 128, slots: 8 },
///         xl: { size: 256, slots: 8 },
///     }
/// }
/// ```
#[macro_export]
macro_rules! pool_classes {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $(footprint_limit: $limit:expr,)?
            xs: { size: $xs:expr, slots: $xs_slots:expr $(,)? },
            s: { size: $s:expr, slots: $s_slots:expr $(,)? },
            m: { size: $m:expr, slots: $m_slots:expr $(,)? },
            l: { size: $l:expr, slots: $l_slots:expr $(,)? },
            xl: { size: $xl:expr, slots: $xl_slots:expr $(,)? } $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        $vis struct $name;

        impl $crate::pool::PoolClasses for $name {
            const FOOTPRINT_LIMIT: usize =
                $crate::pool_classes!(@limit $($limit)?);
            type Xs<P: $crate::broadcast::Policy, const R: usize> =
                $crate::broadcast::Ring<P, { $xs_slots }, { $xs }, R>;
            type S<P: $crate::broadcast::Policy, const R: usize> =
                $crate::broadcast::Ring<P, { $s_slots }, { $s }, R>;
            type M<P: $crate::broadcast::Policy, const R: usize> =
                $crate::broadcast::Ring<P, { $m_slots }, { $m }, R>;
            type L<P: $crate::broadcast::Policy, const R: usize> =
                $crate::broadcast::Ring<P, { $l_slots }, { $l }, R>;
            type Xl<P: $crate::broadcast::Policy, const R: usize> =
                $crate::broadcast::Ring<P, { $xl_slots }, { $xl }, R>;
        }
    };
    (@limit) => {
        $crate::pool::DEFAULT_FOOTPRINT_LIMIT
    };
    (@limit $limit:expr) => {
        $limit
    };
}

pub use crate::pool_classes;

pool_classes! {
    /// The default classes: XS 64 B × 1024 slots, S 256 B × 256, M 1 KiB × 64, L 4 KiB ×
    /// 16, XL 16 KiB × 4 (about 360 KiB with four readers), under
    /// [`DEFAULT_FOOTPRINT_LIMIT`].
    ///
    /// ```
    /// use ringcore::pool::GatedPool;
    /// assert_eq!(GatedPool::<1>::CLASS_SIZES, [64, 256, 1024, 4096, 16384]);
    /// assert_eq!(GatedPool::<1>::CLASS_SLOTS, [1024, 256, 64, 16, 4]);
    /// ```
    pub struct DefaultClasses {
        xs: { size: 64, slots: 1024 },
        s: { size: 256, slots: 256 },
        m: { size: 1024, slots: 64 },
        l: { size: 4096, slots: 16 },
        xl: { size: 16384, slots: 4 },
    }
}

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

/// A [`Pool`] with the [`Gated`] policy (and the default classes unless `C` says
/// otherwise).
pub type GatedPool<const R: usize, C = DefaultClasses> = Pool<Gated, R, C>;

/// A [`Pool`] with the [`Overwrite`] policy (and the default classes unless `C` says
/// otherwise).
pub type OverwritePool<const R: usize, C = DefaultClasses> = Pool<Overwrite, R, C>;

/// Five broadcast rings, one per size class of `C` ([`DefaultClasses`] unless given), for
/// one publisher and up to `R` readers (each reader reads every class). Class sizes must
/// strictly increase and the total size must not exceed `C::FOOTPRINT_LIMIT` bytes. See
/// the [module docs](self).
///
/// ```
/// use ringcore::broadcast::Gated;
/// use ringcore::pool::{Pool, SizeClass};
/// static POOL: Pool<Gated, 2> = Pool::new();
/// let mut p = POOL.try_publisher().unwrap();
/// assert_eq!(p.try_publish(0, 0, &[0; 300]), Ok((0, SizeClass::M)));
/// ```
///
/// Class sizes must increase:
///
/// ```compile_fail,E0080
/// ringcore::pool_classes! {
///     struct Bad {
///         xs: { size: 64, slots: 8 },
///         s: { size: 64, slots: 8 },
///         m: { size: 128, slots: 8 },
///         l: { size: 256, slots: 8 },
///         xl: { size: 512, slots: 8 },
///     }
/// }
/// static POOL: ringcore::pool::GatedPool<1, Bad> = ringcore::pool::Pool::new();
/// ```
pub struct Pool<P: Policy, const R: usize, C: PoolClasses = DefaultClasses> {
    /// One past the highest sequence published (truncated to `usize`); see the module.
    watermark: CachePadded<AtomicUsize>,
    /// Where pool readers and the publisher sleep (a pool reader waits for any class).
    signals: CachePadded<PoolSignals>,
    xs: C::Xs<P, R>,
    s: C::S<P, R>,
    m: C::M<P, R>,
    l: C::L<P, R>,
    xl: C::Xl<P, R>,
}

/// The pool's own [`Signal`]s: its readers wait for an event in any class, which no single
/// class ring's signal says.
struct PoolSignals {
    /// Notified by the publisher's `*_wait` publications and when it is dropped.
    readable: Signal,
    /// Gated pools: notified by readers' `*_wait` reads and when a reader leaves.
    writable: Signal,
}

/// Notifies a signal when dropped: the last field of a pool handle, so that it runs after
/// the handle's class writers closed (or class readers left) their rings.
struct NotifyOnDrop<'a>(&'a Signal);

impl Drop for NotifyOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify();
    }
}

/// Runs `$body` with `$r` bound to `&$self.<class>` (or `&mut`) for class `$class`: the
/// one place that maps a [`SizeClass`] to a field of a pool, publisher or reader.
macro_rules! per_class {
    (&mut $self:ident, $class:expr, |$r:ident| $body:expr) => {
        per_class!(@[&mut] $self, $class, |$r| $body)
    };
    (&$self:ident, $class:expr, |$r:ident| $body:expr) => {
        per_class!(@[&] $self, $class, |$r| $body)
    };
    (@[$($borrow:tt)+] $self:ident, $class:expr, |$r:ident| $body:expr) => {
        match $class {
            SizeClass::XS => per_class!(@bind [$($borrow)+] $self.xs, |$r| $body),
            SizeClass::S => per_class!(@bind [$($borrow)+] $self.s, |$r| $body),
            SizeClass::M => per_class!(@bind [$($borrow)+] $self.m, |$r| $body),
            SizeClass::L => per_class!(@bind [$($borrow)+] $self.l, |$r| $body),
            SizeClass::XL => per_class!(@bind [$($borrow)+] $self.xl, |$r| $body),
        }
    };
    (@bind [$($borrow:tt)+] $field:expr, |$r:ident| $body:expr) => {{
        let $r = $($borrow)+ $field;
        $body
    }};
}

/// The class whose backpressure is highest (by ratio; the smallest such class on a tie).
fn worst_class(
    mut backpressure: impl FnMut(SizeClass) -> Backpressure,
) -> (SizeClass, Backpressure) {
    let mut worst = (SizeClass::XS, backpressure(SizeClass::XS));
    for class in [SizeClass::S, SizeClass::M, SizeClass::L, SizeClass::XL] {
        let b = backpressure(class);
        if b.backpressure_ratio() > worst.1.backpressure_ratio() {
            worst = (class, b);
        }
    }
    worst
}

impl<P: Policy, const R: usize, C: PoolClasses> core::fmt::Debug for Pool<P, R, C> {
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

/// `[XS, S, M, L, XL]`: the [`ClassRing`] constant `$name` of each class ring of a pool
/// (inside `impl Pool<P, R, C>`).
macro_rules! per_class_ring {
    ($name:ident) => {
        [
            <C::Xs<P, R> as ClassRing>::$name,
            <C::S<P, R> as ClassRing>::$name,
            <C::M<P, R> as ClassRing>::$name,
            <C::L<P, R> as ClassRing>::$name,
            <C::Xl<P, R> as ClassRing>::$name,
        ]
    };
}

/// An empty class ring of type `$ring` (`const` where the build allows it).
#[cfg(not(ringcore_loom))]
macro_rules! empty_ring {
    ($ring:ty) => {
        <$ring as RingOps>::EMPTY
    };
}

#[cfg(ringcore_loom)]
macro_rules! empty_ring {
    ($ring:ty) => {
        <$ring as RingOps>::empty()
    };
}

impl<P: Policy, const R: usize, C: PoolClasses> Pool<P, R, C> {
    /// The classes' payload sizes, smallest first.
    pub const CLASS_SIZES: [usize; 5] = per_class_ring!(SIZE);

    /// The classes' slot counts, smallest class first.
    pub const CLASS_SLOTS: [usize; 5] = per_class_ring!(SLOTS);

    /// The largest payload the pool accepts (the XL class's size).
    pub const MAX_PAYLOAD: usize = Self::CLASS_SIZES[4];

    /// Bytes the pool occupies (all five rings, inline).
    pub const FOOTPRINT: usize = core::mem::size_of::<Self>();

    const CHECKS: () = {
        let [xs, s, m, l, xl] = Self::CLASS_SIZES;
        assert!(
            xs < s && s < m && m < l && l < xl,
            "ringcore::pool::Pool: the class sizes XS < S < M < L < XL must strictly increase"
        );
        assert!(
            Self::FOOTPRINT <= C::FOOTPRINT_LIMIT,
            "ringcore::pool::Pool: the total static footprint of the size classes exceeds the classes' FOOTPRINT_LIMIT (bytes): raise it or use fewer or smaller slots"
        );
    };

    const_unless_loom! {
        /// An empty pool. `const`, so it can be a `static` (not `const` in loom builds,
        /// whose rings keep their bookkeeping on the heap, so the footprint is smaller
        /// there). Fails the build if the classes do not increase or the footprint
        /// exceeds the classes' limit.
        ///
        /// ```
        /// static POOL: ringcore::pool::GatedPool<4> = ringcore::pool::GatedPool::new();
        /// assert!(ringcore::pool::GatedPool::<4>::FOOTPRINT <= ringcore::pool::DEFAULT_FOOTPRINT_LIMIT);
        /// ```
        pub fn new() -> Self {
            let () = Self::CHECKS;
            Self {
                watermark: CachePadded::new(atomic_usize(0)),
                signals: CachePadded::new(PoolSignals {
                    readable: Signal::new(),
                    writable: Signal::new(),
                }),
                xs: empty_ring!(C::Xs<P, R>),
                s: empty_ring!(C::S<P, R>),
                m: empty_ring!(C::M<P, R>),
                l: empty_ring!(C::L<P, R>),
                xl: empty_ring!(C::Xl<P, R>),
            }
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
        let mut i = 0;
        while i < SizeClass::ALL.len() {
            if len <= Self::CLASS_SIZES[i] {
                return Some(SizeClass::ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// Hands out the pool's one publisher (it takes the writer of every class ring).
    /// Needs compare-and-swap.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert!(POOL.try_publisher().is_ok());
    /// assert!(POOL.try_publisher().is_err());
    /// ```
    #[cfg(ringcore_cas)]
    pub fn try_publisher(&self) -> Result<PoolPublisher<'_, P, R, C>, PoolHandleError> {
        // The XS writer decides: whoever gets it is the only one that tries the others.
        let xs = self
            .xs
            .writer()
            .map_err(|_| PoolHandleError::AlreadyTaken)?;
        // A class writer taken through its ring (`pool.s().try_writer()`) fails the whole
        // call; the writers taken here go back unused and unclosed.
        match (
            self.s.writer(),
            self.m.writer(),
            self.l.writer(),
            self.xl.writer(),
        ) {
            (Ok(s), Ok(m), Ok(l), Ok(xl)) => Ok(PoolPublisher {
                pool: self,
                xs,
                s,
                m,
                l,
                xl,
                next_seq: self.watermark.load(Ordering::Relaxed) as u64,
                _wake_readers_on_drop: NotifyOnDrop(&self.signals.readable),
            }),
            (s, m, l, xl) => {
                xs.give_back();
                s.map(WriterOps::give_back).ok();
                m.map(WriterOps::give_back).ok();
                l.map(WriterOps::give_back).ok();
                xl.map(WriterOps::give_back).ok();
                Err(PoolHandleError::AlreadyTaken)
            }
        }
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
    #[cfg(ringcore_cas)]
    pub fn join(&self) -> Result<PoolReader<'_, P, R, C>, PoolHandleError> {
        let full = |e: JoinError| match e {
            JoinError::TooManyReaders { max } => PoolHandleError::TooManyReaders { max },
        };
        Ok(PoolReader {
            pool: self,
            xs: self.xs.reader().map_err(full)?,
            s: self.s.reader().map_err(full)?,
            m: self.m.reader().map_err(full)?,
            l: self.l.reader().map_err(full)?,
            xl: self.xl.reader().map_err(full)?,
            heads: [Head::Unknown; 5],
            watermark: None,
            unreported_lost: 0,
            _wake_writer_on_drop: NotifyOnDrop(&self.signals.writable),
        })
    }

    /// The ring of class XS (for its metrics).
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.xs().capacity(), 1024);
    /// ```
    pub fn xs(&self) -> &C::Xs<P, R> {
        &self.xs
    }

    /// The ring of class S.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.s().capacity(), 256);
    /// ```
    pub fn s(&self) -> &C::S<P, R> {
        &self.s
    }

    /// The ring of class M.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.m().capacity(), 64);
    /// ```
    pub fn m(&self) -> &C::M<P, R> {
        &self.m
    }

    /// The ring of class L.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.l().capacity(), 16);
    /// ```
    pub fn l(&self) -> &C::L<P, R> {
        &self.l
    }

    /// The ring of class XL.
    ///
    /// ```
    /// static POOL: ringcore::pool::GatedPool<1> = ringcore::pool::GatedPool::new();
    /// assert_eq!(POOL.xl().capacity(), 4);
    /// ```
    pub fn xl(&self) -> &C::Xl<P, R> {
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
        per_class!(&self, class, |ring| ring.stats())
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
        worst_class(|class| per_class!(&self, class, |ring| ring.worst_backpressure()))
    }
}

#[cfg(not(ringcore_loom))]
impl<P: Policy, const R: usize, C: PoolClasses> Default for Pool<P, R, C> {
    fn default() -> Self {
        Self::new()
    }
}

/// The one publisher of a [`Pool`]: routes each event to its class and numbers events
/// globally. `Send`, not `Sync`. Dropping it closes every class.
#[cfg(ringcore_cas)]
pub struct PoolPublisher<'a, P: Policy, const R: usize, C: PoolClasses = DefaultClasses> {
    pool: &'a Pool<P, R, C>,
    xs: <C::Xs<P, R> as RingOps>::Writer<'a>,
    s: <C::S<P, R> as RingOps>::Writer<'a>,
    m: <C::M<P, R> as RingOps>::Writer<'a>,
    l: <C::L<P, R> as RingOps>::Writer<'a>,
    xl: <C::Xl<P, R> as RingOps>::Writer<'a>,
    next_seq: u64,
    /// Last: readers sleeping for events wake after every class is closed.
    _wake_readers_on_drop: NotifyOnDrop<'a>,
}

#[cfg(ringcore_cas)]
impl<P: Policy, const R: usize, C: PoolClasses> core::fmt::Debug for PoolPublisher<'_, P, R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolPublisher")
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

#[cfg(ringcore_cas)]
impl<P: Policy, const R: usize, C: PoolClasses> PoolPublisher<'_, P, R, C> {
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
        let class = Pool::<P, R, C>::class_for(len).ok_or(PoolError::TooLarge {
            len,
            max: Pool::<P, R, C>::MAX_PAYLOAD,
        })?;
        let header = FrameHeader::event(self.next_seq, timestamp_ns, kind);
        let result = per_class!(&mut self, class, |w| w.publish_frame(header, payload));
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
    /// use ringcore::wait::BusySpin;
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
        let mut waiter = wait.waiter(&self.pool.signals.writable);
        loop {
            match self.try_publish(kind, timestamp_ns, payload) {
                Err(PoolError::Full { .. }) => waiter.idle(),
                result => {
                    wait.notify(&self.pool.signals.readable);
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
pub struct PoolReader<'a, P: Policy, const R: usize, C: PoolClasses = DefaultClasses> {
    pool: &'a Pool<P, R, C>,
    xs: <C::Xs<P, R> as RingOps>::Reader<'a>,
    s: <C::S<P, R> as RingOps>::Reader<'a>,
    m: <C::M<P, R> as RingOps>::Reader<'a>,
    l: <C::L<P, R> as RingOps>::Reader<'a>,
    xl: <C::Xl<P, R> as RingOps>::Reader<'a>,
    heads: [Head; 5],
    /// Events lost to a lap found in the middle of a batch: the batch ends early and the
    /// next read reports them as `Lagged`, so a caller that adds up `Lagged` counts gets
    /// exactly [`PoolReader::lost`].
    unreported_lost: usize,
    /// The watermark loaded (Acquire) before the classes marked `Empty` were looked at.
    watermark: Option<usize>,
    /// Last: a publisher sleeping for room wakes after every class reader left.
    _wake_writer_on_drop: NotifyOnDrop<'a>,
}

impl<P: Policy, const R: usize, C: PoolClasses> core::fmt::Debug for PoolReader<'_, P, R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolReader")
            .field("seen", &self.seen())
            .field("lost", &self.lost())
            .finish_non_exhaustive()
    }
}

impl<P: Policy, const R: usize, C: PoolClasses> PoolReader<'_, P, R, C> {
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
                        self.heads[i] = match per_class!(&mut self, class, |r| r.peek()) {
                            Ok(seq) => Head::Seq(seq),
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
    /// [`ReadError::Lagged`] with the events lost in the class that lapped this reader
    /// (whose reader then resumes half that class's ring behind its head, the broadcast
    /// ring's rule: see [`ReadError::Lagged`]).
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
        per_class!(&mut self, class, |r| r.read(f))
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
                    self.unreported_lost = self.unreported_lost.wrapping_add(n);
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
    /// use ringcore::wait::BusySpin;
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
        let pool = self.pool;
        let mut waiter = wait.waiter(&pool.signals.readable);
        loop {
            match self.read_batch(max, &mut f) {
                Err(ReadError::Empty) => waiter.idle(),
                result => {
                    if !P::OVERWRITE {
                        wait.notify(&pool.signals.writable);
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
        // Each class counts with wrapping arithmetic, and so does the sum.
        SizeClass::ALL.iter().fold(0usize, |n, &class| {
            n.wrapping_add(per_class!(&self, class, |r| r.counts().0))
        })
    }

    /// Events lost to overwrite since joining, over all classes.
    ///
    /// ```
    /// static POOL: ringcore::pool::OverwritePool<1> = ringcore::pool::OverwritePool::new();
    /// let mut p = POOL.try_publisher().unwrap();
    /// let mut r = POOL.join().unwrap();
    /// for _ in 0..6 { p.try_publish(0, 0, &[0; 10_000]).unwrap(); }
    /// // The class's 4 slots were lapped: it resumes 2 behind the head.
    /// assert_eq!(r.try_read(|_| ()), Err(ringcore::broadcast::ReadError::Lagged(4)));
    /// assert_eq!(r.lost(), 4);
    /// ```
    pub fn lost(&self) -> usize {
        SizeClass::ALL.iter().fold(0usize, |n, &class| {
            n.wrapping_add(per_class!(&self, class, |r| r.counts().1))
        })
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
        worst_class(|class| per_class!(&self, class, |r| r.pressure()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::{Blocking, SpinThenYield};
    use std::boxed::Box;
    use std::vec::Vec;

    pool_classes! {
        /// Classes small enough for Miri: 8/16/32/64/128 bytes.
        struct TinyClasses {
            footprint_limit: 16384,
            xs: { size: 8, slots: 4 },
            s: { size: 16, slots: 4 },
            m: { size: 32, slots: 4 },
            l: { size: 64, slots: 2 },
            xl: { size: 128, slots: 2 },
        }
    }

    type Tiny<P> = Pool<P, 2, TinyClasses>;

    /// The payload of the event with sequence `seq`: the workspace's one pattern.
    fn fill(seq: u64, len: usize) -> Vec<u8> {
        let mut payload = std::vec![0; len];
        ringlog_pattern::fill(seq, &mut payload);
        payload
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
                    assert!(ringlog_pattern::check(e.header.seq, e.payload));
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
                assert!(ringlog_pattern::check(next, e.payload));
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
                        assert!(ringlog_pattern::check(e.header.seq, e.payload));
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
                    assert!(ringlog_pattern::check(e.header.seq, e.payload));
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
        threads_mixed_sizes(&SpinThenYield::default());
    }

    #[test]
    fn threads_mixed_sizes_blocking() {
        // The pool's own signals: readers sleep for any class, the publisher for room in
        // its class, and the publisher's drop wakes readers after every class closed.
        let blocking = Blocking::new();
        threads_mixed_sizes(&blocking);
        assert_eq!(blocking.safety_net_wakeups(), 0);
    }

    fn threads_mixed_sizes<W: WaitStrategy + Sync>(wait: &W) {
        let owned = boxed(Tiny::<Gated>::new());
        let pool = &*owned;
        let mut p = pool.try_publisher().unwrap();
        let readers = [pool.join().unwrap(), pool.join().unwrap()];
        let total: u64 = if cfg!(miri) { 150 } else { 50_000 };
        std::thread::scope(|s| {
            let handles = readers.map(|mut r| {
                s.spawn(move || {
                    let mut next = 0u64;
                    loop {
                        match r.read_batch_wait(wait, 8, |e| {
                            assert_eq!(e.header.seq, next);
                            assert_eq!(e.payload.len(), (next as usize * 37) % 129);
                            assert!(ringlog_pattern::check(next, e.payload));
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
                    p.publish_wait(wait, 0, 0, &fill(seq, len)).map(|(s, _)| s),
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

    #[test]
    fn failed_try_publisher_leaves_every_class_as_it_was() {
        // Finding 4: a publisher that cannot take every class writer (one was taken
        // through the class ring) must give back the ones it took, unclosed.
        let pool = Tiny::<Gated>::new();
        let s_writer = pool.s().try_writer().unwrap();
        let mut xs_reader = pool.xs().join().unwrap();
        assert_eq!(
            pool.try_publisher().err(),
            Some(PoolHandleError::AlreadyTaken)
        );
        assert_eq!(
            xs_reader.try_read(|_| ()),
            Err(ReadError::Empty),
            "XS is not closed"
        );
        let mut xs_writer = pool.xs().try_writer().expect("XS writer not taken");
        assert_eq!(xs_writer.try_publish(0, 0, b"x"), Ok(0));
        assert_eq!(xs_reader.try_read(|e| e.payload[0]), Ok(b'x'));
        drop(s_writer);
    }

    #[test]
    fn reader_counters_wrap_instead_of_overflowing() {
        // Finding 5: per-class counters wrap; their sums over classes must wrap too, not
        // panic (debug builds) on overflow. Three classes are each moved almost 2^63 events
        // ahead of an idle overwrite reader, so the losses add up past usize::MAX.
        let pool = Tiny::<Overwrite>::new();
        let mut r = pool.join().unwrap();
        let far = usize::MAX / 2 - 64;
        pool.xs.fast_forward_for_test(far);
        pool.s.fast_forward_for_test(far);
        pool.m.fast_forward_for_test(far);
        let mut p = pool.try_publisher().unwrap();
        // Four events per class fill each class's four slots; a lapped reader resumes
        // half a class's ring (2 slots) behind its head.
        for _ in 0..4 {
            for len in [8, 16, 32] {
                p.try_publish(0, 0, &fill(0, len)).unwrap();
            }
        }
        let (mut seen, mut lost) = (0usize, 0usize);
        loop {
            match r.try_read(|e| e.payload.len()) {
                Ok(_) => seen += 1,
                Err(ReadError::Lagged(n)) => lost = lost.wrapping_add(n),
                Err(ReadError::Empty) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, 6);
        assert_eq!(lost, (far + 2).wrapping_mul(3));
        assert_eq!((r.seen(), r.lost()), (seen, lost));
    }
}
