//! Nexmark q0–q8 through the `TopologyTestDriver`: events/s of each query's operators on
//! one thread, events pre-encoded (JSON values, 8-byte keys), in memory. An upper bound
//! for the operator code, not an end-to-end figure: no broker, no network, no disk.
//!
//! Run with `cargo bench -p eddy-topologies --bench nexmark`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use eddy_topologies::nexmark::{
    self, Event, Generator, GeneratorConfig, QueryConfig, EVENTS_TOPIC, QUERY_NAMES,
};
use eddy_topologies::{Serde, Serdes, StreamsConfig, TopologyTestDriver};

/// Events per iteration: 2 s of event time at Nexmark's default 10,000 events/s.
const EVENTS: usize = 20_000;

fn queries(c: &mut Criterion) {
    let generator = GeneratorConfig::with_seed(1);
    let config = QueryConfig::for_generator(&generator);
    let json = Serdes::json::<Event>();
    let input: Vec<(Vec<u8>, Vec<u8>, i64)> = Generator::new(generator)
        .take(EVENTS)
        .map(|e| {
            let key = e.event.key().to_be_bytes().to_vec();
            let value = json.serialize(&e.event).expect("events encode");
            (key, value, e.timestamp_ms)
        })
        .collect();
    let mut group = c.benchmark_group("nexmark");
    group
        .throughput(Throughput::Elements(EVENTS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for name in QUERY_NAMES {
        let new_driver = || {
            let topology = nexmark::query(name, &config)
                .expect("a known query")
                .expect("the query builds");
            TopologyTestDriver::new(topology, StreamsConfig::new("nexmark")).expect("a driver")
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                new_driver,
                |mut driver| {
                    for (key, value, timestamp) in &input {
                        driver
                            .pipe_raw(
                                EVENTS_TOPIC,
                                Some(key.clone()),
                                Some(value.clone()),
                                *timestamp,
                                Vec::new(),
                            )
                            .expect("the query runs");
                    }
                    black_box(driver.read_raw(&nexmark::output_topic(name)).len())
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
