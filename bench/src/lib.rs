//! The benches' shared parts, the bare heap-loop M/M/c, and the comparison harness behind
//! `qm bench` (binary `qm-bench`); the criterion benches themselves live in `benches/`.

pub mod harness;
pub mod live;
pub mod mmc_heap;

use std::time::{Duration, Instant};

/// Times `iters` runs of `op`, on state built by `fresh` and rebuilt every `chunk` runs.
///
/// For operations that grow their state (a booking added, a reservation opened): without a
/// rebuild the state measured after millions of runs is not the one the bench names.
/// Building and dropping the state are not timed. `op` gets the run's index within its chunk,
/// so it can pick an input that is new to that state.
pub fn time_in_chunks<S>(
    iters: u64,
    chunk: u64,
    mut fresh: impl FnMut() -> S,
    mut op: impl FnMut(&mut S, u64),
) -> Duration {
    let chunk = chunk.max(1);
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let runs = chunk.min(iters - done);
        let mut state = fresh();
        let start = Instant::now();
        for index in 0..runs {
            op(&mut state, index);
        }
        timed += start.elapsed();
        drop(state);
        done += runs;
    }
    timed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_iteration_and_rebuilds_each_chunk() {
        let mut builds = 0;
        let mut indices = Vec::new();
        time_in_chunks(
            7,
            3,
            || {
                builds += 1;
            },
            |_, index| indices.push(index),
        );
        assert_eq!(builds, 3);
        assert_eq!(indices, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn a_zero_chunk_counts_as_one() {
        let mut runs = 0;
        time_in_chunks(2, 0, || (), |_, _| runs += 1);
        assert_eq!(runs, 2);
    }
}
