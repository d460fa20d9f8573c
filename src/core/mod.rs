//! The core: one producer completes one future. [`link`] is the atomic word the two ends
//! share, [`promise`] the producing end, [`concurrent`] the receiving end waited on by
//! blocking, [`awaitable`] the same as an [`ApiFuture`](crate::ApiFuture), and [`relay`] the
//! done callbacks between them.

pub(crate) mod awaitable;
pub(crate) mod concurrent;
pub(crate) mod link;
pub(crate) mod promise;
pub(crate) mod relay;
