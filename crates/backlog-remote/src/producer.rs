//! [`RemoteProducer`]: enqueue through a server.

use std::time::Duration;

use backlog::JobArgs;
use backlog_protocol::{
    decode, Acknowledged, BatchOpen, BatchSpec, Hello, JobSpec, Limits, Message, RejectCode,
    Request, Role, WorkflowSpec,
};

use crate::link::Link;
use crate::{Curve, RemoteError};

pub use backlog_protocol::Enqueued;

/// Why an enqueue through the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The server refused the request; nothing was stored.
    #[error("the server refused the request ({code:?}): {message}")]
    Rejected {
        /// Its code.
        code: RejectCode,
        /// Its explanation.
        message: String,
    },
    /// No answer in time, or the server could not tell whether the jobs were stored: the
    /// outcome is unknown. Resending with the same request id is safe (it stores nothing new).
    #[error("no answer for request {request_id} (outcome unknown; resend with the same request id, which is safe)")]
    OutcomeUnknown {
        /// The request to resend.
        request_id: String,
    },
    /// The args did not serialize.
    #[error("the job's args do not serialize to JSON: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The connection failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

/// A producer session on one server. Each call sends one `Request` under a fresh request id
/// and waits for the answer, resending the same request (same id: idempotent) on silence.
pub struct RemoteProducer {
    link: Link,
    _ctx: zmq::Context,
    timeout: Duration,
    retries: u32,
}

impl std::fmt::Debug for RemoteProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProducer")
            .field("endpoint", &self.link.endpoint)
            .finish_non_exhaustive()
    }
}

impl RemoteProducer {
    /// Connects and opens a producer session. Must be called inside a tokio runtime.
    pub async fn connect(
        endpoint: &str,
        curve: Option<Curve>,
    ) -> Result<RemoteProducer, ProduceError> {
        let ctx = zmq::Context::new();
        let link = Link::connect(&ctx, endpoint, curve.as_ref())?;
        let mut producer = RemoteProducer {
            link,
            _ctx: ctx,
            timeout: Duration::from_secs(5),
            retries: 3,
        };
        producer.link.send(&Message::Hello(Hello {
            role: Role::Producer,
            worker_id: None,
            kinds: vec![],
            queues: vec![],
            capacity: None,
            holding: vec![],
            token: None,
            library: Some(concat!("backlog-remote/", env!("CARGO_PKG_VERSION")).into()),
        }))?;
        match producer.next(producer.timeout).await {
            Some(Message::Welcome(_)) => Ok(producer),
            Some(other) => Err(ProduceError::Rejected {
                code: RejectCode::Invalid,
                message: format!("expected Welcome, got {}", other.message_type().as_str()),
            }),
            None => Err(ProduceError::OutcomeUnknown {
                request_id: "(session)".into(),
            }),
        }
    }

    /// How long to wait for an answer before resending (default 5 s), and how many resends
    /// (default 3).
    pub fn with_timeout(mut self, timeout: Duration, retries: u32) -> RemoteProducer {
        self.timeout = timeout;
        self.retries = retries;
        self
    }

    /// Enqueues one typed job on its kind's default queue; returns its id after the commit.
    pub async fn enqueue<A: JobArgs>(&mut self, args: &A) -> Result<Enqueued, ProduceError> {
        let mut spec = JobSpec::new(A::KIND, serde_json::to_value(args)?);
        spec.queue = A::default_opts().queue_name().map(str::to_owned);
        Ok(self.enqueue_many(vec![spec]).await?[0])
    }

    /// Enqueues several jobs in one request (one commit); every option of the protocol's
    /// [`JobSpec`] is available.
    pub async fn enqueue_many(
        &mut self,
        jobs: Vec<JobSpec>,
    ) -> Result<Vec<Enqueued>, ProduceError> {
        self.request(&new_request_id(), jobs).await
    }

    /// Sends a request under the caller's `request_id` (e.g. to resend after
    /// [`ProduceError::OutcomeUnknown`]).
    pub async fn request(
        &mut self,
        request_id: &str,
        jobs: Vec<JobSpec>,
    ) -> Result<Vec<Enqueued>, ProduceError> {
        Ok(self.send(Request::new(request_id, jobs)).await?.jobs)
    }

    /// Enqueues jobs as one workflow, in one transaction: a job whose
    /// [`after`](JobSpec::after) names other jobs of the call (by index) runs once they
    /// completed. Returns the workflow's id and the jobs, in order.
    pub async fn enqueue_workflow(
        &mut self,
        name: impl Into<String>,
        jobs: Vec<JobSpec>,
    ) -> Result<(i64, Vec<Enqueued>), ProduceError> {
        let mut request = Request::new(new_request_id(), jobs);
        request.workflow = Some(WorkflowSpec { name: name.into() });
        let ack = self.send(request).await?;
        Ok((ack.workflow_id.unwrap_or_default(), ack.jobs))
    }

    /// Creates a batch with `jobs` as its first members (sealed at once if `seal`); returns
    /// the batch's id and the jobs.
    pub async fn open_batch(
        &mut self,
        open: BatchOpen,
        jobs: Vec<JobSpec>,
        seal: bool,
    ) -> Result<(i64, Vec<Enqueued>), ProduceError> {
        let mut request = Request::new(new_request_id(), jobs);
        request.batch = Some(BatchSpec {
            id: None,
            open: Some(open),
            seal,
        });
        let ack = self.send(request).await?;
        Ok((ack.batch_id.unwrap_or_default(), ack.jobs))
    }

    /// Adds jobs to an open batch (none, to only seal it), then seals it if `seal`.
    pub async fn add_to_batch(
        &mut self,
        batch: i64,
        jobs: Vec<JobSpec>,
        seal: bool,
    ) -> Result<Vec<Enqueued>, ProduceError> {
        let mut request = Request::new(new_request_id(), jobs);
        request.batch = Some(BatchSpec {
            id: Some(batch),
            open: None,
            seal,
        });
        Ok(self.send(request).await?.jobs)
    }

    /// Sends any request and waits for its answer, resending it (same `request_id`) after a
    /// timeout, an `overloaded` or an `outcome_unknown` answer.
    pub async fn send(&mut self, request: Request) -> Result<Acknowledged, ProduceError> {
        let request_id = request.request_id.clone();
        let message = Message::Request(request);
        for _ in 0..=self.retries {
            self.link.send(&message)?;
            let deadline = tokio::time::Instant::now() + self.timeout;
            while let Some(answer) = self
                .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await
            {
                match answer {
                    Message::Acknowledged(ack) if ack.request_id == request_id => return Ok(ack),
                    Message::Rejected(r) if r.request_id == request_id => {
                        if r.code == RejectCode::OutcomeUnknown || r.code == RejectCode::Overloaded
                        {
                            tokio::time::sleep(Duration::from_millis(
                                r.retry_after_ms.unwrap_or(100),
                            ))
                            .await;
                            break;
                        }
                        return Err(ProduceError::Rejected {
                            code: r.code,
                            message: r.message,
                        });
                    }
                    _ => {}
                }
            }
        }
        Err(ProduceError::OutcomeUnknown { request_id })
    }

    async fn next(&mut self, wait: Duration) -> Option<Message> {
        let bytes = tokio::time::timeout(wait, self.link.inbound.recv())
            .await
            .ok()??;
        decode(&bytes, &Limits::default()).ok()
    }
}

/// A fresh random request id.
fn new_request_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
