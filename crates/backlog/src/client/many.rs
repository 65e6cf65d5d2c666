//! [`Client`] methods that enqueue many jobs with options, in one transaction.

use backlog_types::JobId;

use crate::{Client, EnqueueError, InsertOpts, JobArgs};

impl Client {
    /// Like [`Client::enqueue_many`], with the same options for every job (queue, priority,
    /// run-at, …); fields left unset fall back to [`JobArgs::default_opts`]. One transaction:
    /// either all are inserted or none.
    ///
    /// ```
    /// # use backlog::{Client, InsertOpts, JobArgs, Priority};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Resize { image: String }
    /// # impl JobArgs for Resize { const KIND: &'static str = "resize"; }
    /// # async fn demo(client: Client) -> Result<(), backlog::EnqueueError> {
    /// let opts = InsertOpts::new().queue("media").priority(Priority::HIGH);
    /// let ids = client
    ///     .enqueue_many_with((0..10).map(|i| Resize { image: format!("{i}.png") }), opts)
    ///     .await?;
    /// # let _ = ids; Ok(()) }
    /// ```
    pub async fn enqueue_many_with<A: JobArgs>(
        &self,
        args: impl IntoIterator<Item = A>,
        opts: InsertOpts,
    ) -> Result<Vec<JobId>, EnqueueError> {
        self.enqueue_many_each(args.into_iter().map(|a| (a, opts.clone())))
            .await
    }

    /// Like [`Client::enqueue_many`], with options per job. One transaction: either all are
    /// inserted or none. Returns the ids in order.
    pub async fn enqueue_many_each<A: JobArgs>(
        &self,
        jobs: impl IntoIterator<Item = (A, InsertOpts)>,
    ) -> Result<Vec<JobId>, EnqueueError> {
        let prepared = jobs
            .into_iter()
            .map(|(args, opts)| self.prepare(&args, opts))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.insert_prepared(prepared).await?;
        Ok(results.into_iter().map(|r| r.id).collect())
    }
}
