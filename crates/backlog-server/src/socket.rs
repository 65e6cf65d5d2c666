//! The ZeroMQ `ROUTER` on its own OS thread, bridged to tokio.
//!
//! Inbound frames go to a bounded tokio channel with `try_send`: when it is full the thread
//! stops reading the `ROUTER` (ZeroMQ's receive high-water mark then fills and TCP pushes back
//! on clients) but keeps draining outbound messages, so the two sides can never wait on each
//! other. Outbound messages come through an `inproc` `PUSH`/`PULL` pair polled beside the
//! `ROUTER`, which wakes the thread at once.

use std::sync::Mutex;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::ServerError;

/// What the socket thread hands to the session layer.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A message from a peer.
    Frame { peer: Vec<u8>, payload: Vec<u8> },
    /// A message of more than one frame (the protocol sends one), answered `malformed`.
    Multipart { peer: Vec<u8>, frames: usize },
    /// A message to `peer` could not be sent: the peer is gone (`EHOSTUNREACH`) or its pipe
    /// is full (`EAGAIN`).
    Unroutable {
        peer: Vec<u8>,
        payload: Vec<u8>,
        error: zmq::Error,
    },
}

/// Socket settings, from the server's config.
#[derive(Debug, Clone)]
pub(crate) struct SocketOptions {
    pub endpoint: String,
    pub max_frame_bytes: i64,
    pub hwm: i32,
    pub curve_secret: Option<[u8; 32]>,
}

/// The tokio side's handle: sends outbound messages and stops the thread.
pub(crate) struct SocketHandle {
    /// The outbound `PUSH`; taken and closed by [`SocketHandle::stop`], so that once the
    /// thread is gone no socket of the server's context is left open (the context can then be
    /// terminated, which is what frees the port).
    push: Mutex<Option<zmq::Socket>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The endpoint actually bound (the port filled in when `:0` or `*` was asked).
    pub endpoint: String,
}

impl SocketHandle {
    /// Queues `payload` for `peer`. Fails only when the outbound pipe is full or closed; a
    /// peer that is gone is reported later as [`Inbound::Unroutable`].
    pub fn send(&self, peer: &[u8], payload: &[u8]) -> Result<(), zmq::Error> {
        let push = self.push.lock().map_err(|_| zmq::Error::ETERM)?;
        let push = push.as_ref().ok_or(zmq::Error::ETERM)?;
        push.send(peer, zmq::SNDMORE | zmq::DONTWAIT)?;
        push.send(payload, zmq::DONTWAIT)
    }

    /// Stops the thread (it closes the `ROUTER` and the `PULL`), waits for it, and closes the
    /// `PUSH`: after this the handle holds no socket, and [`SocketHandle::send`] fails with
    /// `ETERM`.
    pub fn stop(&self) {
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        let mut push = self
            .push
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(push) = push.as_ref() {
            // A lone empty frame is the stop signal. It is never sent blocking: a thread that
            // already returned (its session layer went away first) has closed the PULL end,
            // and a blocking send to a PUSH without a peer waits forever. While the thread
            // runs, a full pipe only means it has not drained it yet: try again.
            loop {
                match push.send(&[][..], zmq::DONTWAIT) {
                    Ok(()) => break,
                    Err(zmq::Error::EAGAIN)
                        if thread.as_ref().is_some_and(|t| !t.is_finished()) =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(_) => break,
                }
            }
        }
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        push.take();
    }
}

/// Binds the `ROUTER` and starts its thread.
pub(crate) fn start(
    ctx: &zmq::Context,
    options: SocketOptions,
    inbound: mpsc::Sender<Inbound>,
) -> Result<SocketHandle, ServerError> {
    let zmq_err = |what: &'static str| move |source| ServerError::Zmq { what, source };
    let router = ctx
        .socket(zmq::ROUTER)
        .map_err(zmq_err("create the ROUTER"))?;
    router
        .set_router_mandatory(true)
        .map_err(zmq_err("set ROUTER_MANDATORY"))?;
    router
        .set_maxmsgsize(options.max_frame_bytes)
        .map_err(zmq_err("set MAXMSGSIZE"))?;
    router
        .set_sndhwm(options.hwm)
        .map_err(zmq_err("set SNDHWM"))?;
    router
        .set_rcvhwm(options.hwm)
        .map_err(zmq_err("set RCVHWM"))?;
    router.set_linger(0).map_err(zmq_err("set LINGER"))?;
    if let Some(secret) = options.curve_secret {
        router
            .set_curve_server(true)
            .map_err(zmq_err("enable CURVE"))?;
        router
            .set_curve_secretkey(&secret)
            .map_err(zmq_err("set the CURVE secret key"))?;
        router
            .set_zap_domain(crate::zap::DOMAIN)
            .map_err(zmq_err("set the ZAP domain"))?;
    }
    router
        .bind(&options.endpoint)
        .map_err(|source| ServerError::Bind {
            endpoint: options.endpoint.clone(),
            source,
        })?;
    let endpoint = router
        .get_last_endpoint()
        .map_err(zmq_err("read the bound endpoint"))?
        .unwrap_or_else(|_| options.endpoint.clone());

    let inproc = format!("inproc://backlog-out-{:016x}", fastrand::u64(..));
    let pull = ctx.socket(zmq::PULL).map_err(zmq_err("create the PULL"))?;
    pull.bind(&inproc)
        .map_err(zmq_err("bind the inproc PULL"))?;
    let push = ctx.socket(zmq::PUSH).map_err(zmq_err("create the PUSH"))?;
    push.set_linger(0).map_err(zmq_err("set LINGER"))?;
    push.connect(&inproc)
        .map_err(zmq_err("connect the inproc PUSH"))?;

    let thread = std::thread::Builder::new()
        .name("backlog-zmq".into())
        .spawn(move || run(router, pull, inbound))
        .map_err(ServerError::Thread)?;
    Ok(SocketHandle {
        push: Mutex::new(Some(push)),
        thread: Mutex::new(Some(thread)),
        endpoint,
    })
}

/// The thread's loop; returns when told to stop or when the session layer is gone.
fn run(router: zmq::Socket, pull: zmq::Socket, inbound: mpsc::Sender<Inbound>) {
    // A frame read but not yet accepted by the full inbound channel.
    let mut pending: Option<Inbound> = None;
    loop {
        if let Some(item) = pending.take() {
            match inbound.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => pending = Some(item),
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        let (router_readable, pull_readable) = {
            let read_router = if pending.is_none() {
                zmq::POLLIN
            } else {
                zmq::PollEvents::empty()
            };
            let mut items = [
                router.as_poll_item(read_router),
                pull.as_poll_item(zmq::POLLIN),
            ];
            // With a frame pending, wake up now and then to retry it (the channel has no
            // wake-up the thread could poll).
            let timeout = if pending.is_some() { 5 } else { -1 };
            match zmq::poll(&mut items, timeout) {
                Ok(_) => {}
                Err(zmq::Error::EINTR) => continue,
                Err(error) => {
                    tracing::error!(%error, "zmq poll failed; the server socket stops");
                    return;
                }
            }
            (items[0].is_readable(), items[1].is_readable())
        };
        if pull_readable {
            while let Ok(frames) = pull.recv_multipart(zmq::DONTWAIT) {
                let [peer, payload]: [Vec<u8>; 2] = match frames.try_into() {
                    Ok(pair) => pair,
                    // The stop signal.
                    Err(_) => return,
                };
                let sent = router
                    .send(&peer[..], zmq::SNDMORE | zmq::DONTWAIT)
                    .and_then(|()| router.send(&payload[..], zmq::DONTWAIT));
                if let Err(error) = sent {
                    let item = Inbound::Unroutable {
                        peer,
                        payload,
                        error,
                    };
                    // Reported even when the inbound channel is full: the caller must learn it.
                    if inbound.blocking_send(item).is_err() {
                        return;
                    }
                }
            }
        }
        if router_readable {
            while pending.is_none() {
                let Ok(mut frames) = router.recv_multipart(zmq::DONTWAIT) else {
                    break;
                };
                // [routing id, payload]; any other count is answered `malformed`.
                let item = if frames.len() == 2 {
                    let payload = frames.pop().unwrap_or_default();
                    let peer = frames.pop().unwrap_or_default();
                    Inbound::Frame { peer, payload }
                } else {
                    let count = frames.len().saturating_sub(1);
                    frames.truncate(1);
                    Inbound::Multipart {
                        peer: frames.pop().unwrap_or_default(),
                        frames: count,
                    }
                };
                match inbound.try_send(item) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(item)) => pending = Some(item),
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    }
}
