//! ConnectorTask: the actor that owns one task of one connector — its source or sink, its
//! clients, its uncommitted progress — for one *incarnation*.
//!
//! Supervised by the ConnectSupervisor, one-for-one. Restart policy transient: a task that
//! stops because it was told to is not restarted; one that fails (an error or a panic) is
//! restarted after a back-off, as `restart.rs` decides. A restart starts a *new* actor,
//! a new incarnation, whose state is rebuilt from the configuration and from what the
//! cluster stores (source offsets in `connect-offsets`, sink progress as the committed
//! offsets of group `connect-<name>`); nothing of the failed incarnation is reused, so
//! records it handled but did not commit are handled again (at-least-once).
//!
//! The task's work runs as one future spawned in the actor's context (`source_runner` or
//! `sink_runner`), with a panic guard around it: actix does not catch panics, so the guard
//! turns one into an error that the supervisor sees like any other failure. The actor's
//! mailbox stays free while the work runs, so pause, resume and stop are handled at once;
//! the work sees them through a `watch` channel between two batches, so a batch is never
//! cut in the middle. Every incarnation reports to the supervisor with its number, and
//! the supervisor ignores reports of incarnations it replaced.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::FutureExt;
use tokio::sync::{oneshot, watch};

use super::config::{ConnectorConfig, ConnectorType};
use super::error::ConnectError;
use super::offsets::OffsetStorage;
use super::{sink_runner, source_runner};

/// What the supervisor asks of a running task; the work reads it between batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Work.
    Run,
    /// Commit progress, then read nothing until resumed.
    Pause,
    /// Commit progress and end.
    Stop,
}

/// What a task tells its supervisor.
#[derive(Debug)]
pub(crate) enum TaskEventKind {
    /// Started (or resumed) and working.
    Running,
    /// Paused.
    Paused,
    /// Wrote to or read from this topic for the first time (KIP-558's active topics).
    Topic(String),
    /// The work ended: `Ok` when it was told to stop, `Err` when it failed.
    Exited(Result<(), ConnectError>),
}

/// A report of one incarnation of a task to the ConnectSupervisor.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub(crate) struct TaskEvent {
    pub(crate) connector: String,
    pub(crate) task: u32,
    pub(crate) incarnation: u64,
    pub(crate) kind: TaskEventKind,
}

/// Sends one incarnation's reports.
#[derive(Clone)]
pub(crate) struct Reporter {
    supervisor: Recipient<TaskEvent>,
    connector: String,
    task: u32,
    incarnation: u64,
}

impl Reporter {
    pub(crate) fn send(&self, kind: TaskEventKind) {
        self.supervisor.do_send(TaskEvent {
            connector: self.connector.clone(),
            task: self.task,
            incarnation: self.incarnation,
            kind,
        });
    }
}

/// Everything the work of one incarnation needs.
pub(crate) struct RunContext {
    pub(crate) config: Arc<ConnectorConfig>,
    pub(crate) task: u32,
    pub(crate) bootstrap: String,
    /// Where a source task keeps its offsets.
    pub(crate) offsets: OffsetStorage,
    pub(crate) control: watch::Receiver<Control>,
    pub(crate) reporter: Reporter,
}

impl RunContext {
    /// What the supervisor asks right now.
    pub(crate) fn control(&self) -> Control {
        *self.control.borrow()
    }

    /// Reports `Paused`, waits until resumed or stopped, reports `Running` if resumed, and
    /// returns which it was.
    pub(crate) async fn pause(&mut self) -> Control {
        self.reporter.send(TaskEventKind::Paused);
        loop {
            let control = *self.control.borrow_and_update();
            if control != Control::Pause {
                if control == Control::Run {
                    self.reporter.send(TaskEventKind::Running);
                }
                return control;
            }
            if self.control.changed().await.is_err() {
                return Control::Stop;
            }
        }
    }

    /// Sleeps `pause`, cut short by a stop; returns whether to go on.
    pub(crate) async fn sleep_unless_stopped(&mut self, pause: Duration) -> bool {
        let stopped = async {
            loop {
                if *self.control.borrow_and_update() == Control::Stop {
                    return;
                }
                if self.control.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => true,
            () = stopped => false,
        }
    }

    /// For a source that has nothing more to read: follows pause and resume until stopped.
    pub(crate) async fn idle_until_stopped(&mut self) {
        loop {
            match self.control() {
                Control::Stop => return,
                Control::Pause => {
                    if self.pause().await == Control::Stop {
                        return;
                    }
                }
                Control::Run => {
                    if self.control.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// One incarnation of one task of a connector.
pub struct ConnectorTask {
    context: Option<RunContext>,
    control: watch::Sender<Control>,
    reporter: Reporter,
    stop_waiters: Vec<oneshot::Sender<()>>,
    exited: bool,
}

impl ConnectorTask {
    /// A task incarnation; its work starts with the actor, in state `initial`.
    pub(crate) fn new(
        config: Arc<ConnectorConfig>,
        task: u32,
        bootstrap: String,
        offsets: OffsetStorage,
        initial: Control,
        supervisor: Recipient<TaskEvent>,
        incarnation: u64,
    ) -> Self {
        let (control, receiver) = watch::channel(initial);
        let reporter = Reporter {
            supervisor,
            connector: config.name.clone(),
            task,
            incarnation,
        };
        let context = RunContext {
            config,
            task,
            bootstrap,
            offsets,
            control: receiver,
            reporter: reporter.clone(),
        };
        Self {
            context: Some(context),
            control,
            reporter,
            stop_waiters: Vec::new(),
            exited: false,
        }
    }
}

impl Actor for ConnectorTask {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(context) = self.context.take() else {
            return;
        };
        let work = AssertUnwindSafe(run(context))
            .catch_unwind()
            .map(|outcome| {
                outcome.unwrap_or_else(|panic| Err(ConnectError::Panic(panic_message(&panic))))
            });
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            if let Err(err) = &result {
                tracing::warn!(
                    connector = %act.reporter.connector, task = act.reporter.task,
                    error = %err, "connector task failed"
                );
            }
            act.exited = true;
            act.reporter.send(TaskEventKind::Exited(result));
            for waiter in act.stop_waiters.drain(..) {
                // A waiter that gave up already has nothing to be told.
                let _ = waiter.send(());
            }
            ctx.stop();
        }));
    }
}

/// Runs the task's work: a source or a sink, as the configuration says.
async fn run(context: RunContext) -> Result<(), ConnectError> {
    match context.config.connector_type() {
        ConnectorType::Source => source_runner::run(context).await,
        ConnectorType::Sink => sink_runner::run(context).await,
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

/// Pause or resume the task.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetControl(pub(crate) Control);

impl Handler<SetControl> for ConnectorTask {
    type Result = ();

    fn handle(&mut self, msg: SetControl, _ctx: &mut Self::Context) {
        // `send_replace` stores the value even when the work has ended (no receiver).
        self.control.send_replace(msg.0);
    }
}

/// Stop the task: answered once its work has committed its progress and ended.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopTask;

impl Handler<StopTask> for ConnectorTask {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: StopTask, _ctx: &mut Self::Context) -> Self::Result {
        self.control.send_replace(Control::Stop);
        if self.exited {
            return Box::pin(async {});
        }
        let (sender, receiver) = oneshot::channel();
        self.stop_waiters.push(sender);
        Box::pin(async move {
            // An error means the actor is gone, which is stopped too.
            let _ = receiver.await;
        })
    }
}

/// Stop the task's actor at once, dropping its work without committing (for a task that
/// did not stop in time).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AbortTask;

impl Handler<AbortTask> for ConnectorTask {
    type Result = ();

    fn handle(&mut self, _msg: AbortTask, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
