//! The live engine's parts that touch the outside world: persistence in SQLite and the
//! credentials vault. Everything here runs against the wall clock through the `Clock`; the
//! policies and actors it drives are the same ones the simulator uses.

pub mod vault;
