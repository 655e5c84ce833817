//! eddy-topologies: the stream topology DSL. Pure logic: no I/O, no network, no actors.
