//! The built-in connector classes: which `Source` or `Sink` implements each, built from a
//! validated configuration for one task.

use super::config::{ClassConfig, ConnectorConfig};
use super::file_sink::FileStreamSink;
use super::file_source::FileStreamSource;
use super::generator::{Generator, GeneratorSettings};
use super::postgres_sink::PostgresSink;
use super::sink::Sink;
use super::source::Source;

/// A source task of `config`, with the topic it writes; `None` for a sink class.
pub(crate) fn source_task(
    config: &ConnectorConfig,
    task: u32,
) -> Option<(Box<dyn Source>, String)> {
    match &config.class_config {
        ClassConfig::FileSource { file, topic } => {
            let source = FileStreamSource::new(file.clone(), topic.clone(), config.batch_size);
            Some((Box::new(source), topic.clone()))
        }
        ClassConfig::Generator {
            topic,
            records_per_second,
            iterations,
            quickstart,
        } => {
            let generator = Generator::new(GeneratorSettings {
                topic: topic.clone(),
                records_per_second: *records_per_second,
                iterations: *iterations,
                quickstart: *quickstart,
                batch_size: config.batch_size,
                task,
                tasks: config.task_count(),
            });
            Some((Box::new(generator), topic.clone()))
        }
        ClassConfig::FileSink { .. } | ClassConfig::PostgresSink(_) => None,
    }
}

/// A sink task of `config`, with the topics it reads; `None` for a source class.
pub(crate) fn sink_task(config: &ConnectorConfig) -> Option<(Box<dyn Sink>, Vec<String>)> {
    match &config.class_config {
        ClassConfig::FileSink { file, topics } => {
            Some((Box::new(FileStreamSink::new(file.clone())), topics.clone()))
        }
        ClassConfig::PostgresSink(postgres) => {
            let sink = PostgresSink::new(&config.name, postgres.clone(), config.value_converter);
            Some((Box::new(sink), postgres.topics.clone()))
        }
        ClassConfig::FileSource { .. } | ClassConfig::Generator { .. } => None,
    }
}
