//! How a task runs a record: decode at the source, then depth-first through the
//! operators (each forwarded record goes through a child's whole subtree before the
//! next), then the stream-time listeners.

use super::{SkippedRecord, Task, TaskOutput};
use crate::error::TaskError;
use crate::graph::NodeId;
use crate::ops::{Ctx, Forward};
use crate::record::{InputRecord, OutputRecord, Record};
use crate::topology::CompiledRole;

pub(super) fn process(task: &mut Task, input: InputRecord) -> Result<TaskOutput, TaskError> {
    let source = *task
        .sources
        .get(&input.topic)
        .ok_or_else(|| TaskError::UnknownTopic {
            task: task.id.to_string(),
            topic: input.topic.clone(),
        })?;
    let mut output = TaskOutput::default();
    let CompiledRole::Source { decoder, .. } = &task.topology.inner.nodes[source].role else {
        return Err(TaskError::Internal(format!(
            "operator #{source} is not a source"
        )));
    };
    let decoded = match input.timestamp {
        t if t < 0 => Err(format!("negative timestamp {t}")),
        _ => decoder(&input).map_err(|e| format!("cannot deserialize: {e}")),
    };
    let record = match decoded {
        Ok(record) => record,
        Err(reason) => {
            task.metrics.skipped_records += 1;
            output.skipped = Some(SkippedRecord {
                topic: input.topic,
                partition: input.partition,
                offset: input.offset,
                reason,
            });
            return Ok(output);
        }
    };
    task.metrics.processed_records += 1;
    task.stream_time = task.stream_time.max(record.timestamp);
    run(task, source, record, &mut output.records)?;
    notify_stream_time(task, &mut output.records)?;
    output.changelog = task.stores.take_changelog();
    Ok(output)
}

/// Runs `record` through `id` and, depth-first, through everything it forwards.
fn run(
    task: &mut Task,
    id: NodeId,
    record: Record,
    output: &mut Vec<OutputRecord>,
) -> Result<(), TaskError> {
    let stream_time = task.stream_time;
    let (forwards, children) = {
        let Some(rt) = task.nodes.get_mut(id).and_then(Option::as_mut) else {
            return Err(TaskError::Internal(format!(
                "operator #{id} is not in task {}",
                task.id
            )));
        };
        let mut ctx = Ctx {
            node: &rt.name,
            stores: &mut task.stores,
            output,
            metrics: &mut task.metrics,
            stream_time,
            forwards: Vec::new(),
        };
        rt.processor.process(record, &mut ctx)?;
        (ctx.forwards, rt.children.clone())
    };
    route(task, &children, forwards, output)
}

fn route(
    task: &mut Task,
    children: &[NodeId],
    forwards: Vec<Forward>,
    output: &mut Vec<OutputRecord>,
) -> Result<(), TaskError> {
    for forward in forwards {
        match forward {
            Forward::All(record) => {
                for child in children {
                    run(task, *child, record.clone(), output)?;
                }
            }
            Forward::To(index, record) => {
                if let Some(child) = children.get(index) {
                    run(task, *child, record, output)?;
                }
            }
        }
    }
    Ok(())
}

/// Lets windowed and buffering operators react to stream time (close windows, emit
/// suppressed results), and routes what they emit.
fn notify_stream_time(task: &mut Task, output: &mut Vec<OutputRecord>) -> Result<(), TaskError> {
    let stream_time = task.stream_time;
    for id in task.listeners.clone() {
        let (forwards, children) = {
            let Some(rt) = task.nodes.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            let mut ctx = Ctx {
                node: &rt.name,
                stores: &mut task.stores,
                output,
                metrics: &mut task.metrics,
                stream_time,
                forwards: Vec::new(),
            };
            rt.processor.on_stream_time(&mut ctx)?;
            (ctx.forwards, rt.children.clone())
        };
        route(task, &children, forwards, output)?;
    }
    Ok(())
}
