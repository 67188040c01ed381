//! One connection's loops.
