//! One connection to one server: a `DEALER` socket on a thread of its own (ZeroMQ sockets are
//! not thread-safe, and polling `ZMQ_FD` from tokio has a history of lost wake-ups), bridged
//! to tokio by a channel inbound and an `inproc` `PUSH`/`PULL` pair outbound, so the thread
//! sleeps in `zmq::poll` on both and wakes for either at once.

use std::sync::Mutex;
use std::thread::JoinHandle;

use backlog_protocol::{encode, Message};
use tokio::sync::mpsc;

use crate::{Curve, RemoteError};

pub(crate) struct Link {
    push: Mutex<zmq::Socket>,
    thread: Option<JoinHandle<()>>,
    pub(crate) inbound: mpsc::Receiver<Vec<u8>>,
    pub(crate) endpoint: String,
}

impl Link {
    pub(crate) fn connect(
        ctx: &zmq::Context,
        endpoint: &str,
        curve: Option<&Curve>,
    ) -> Result<Link, RemoteError> {
        let zmq_err = |what: &'static str| move |source| RemoteError::Zmq { what, source };
        let dealer = ctx
            .socket(zmq::DEALER)
            .map_err(zmq_err("create the DEALER"))?;
        dealer.set_linger(0).map_err(zmq_err("set LINGER"))?;
        dealer.set_sndhwm(10_000).map_err(zmq_err("set SNDHWM"))?;
        dealer.set_rcvhwm(10_000).map_err(zmq_err("set RCVHWM"))?;
        if let Some(curve) = curve {
            if zmq::has("curve") != Some(true) {
                return Err(RemoteError::CurveUnavailable);
            }
            dealer
                .set_curve_serverkey(&curve.server_public)
                .map_err(zmq_err("set the server's CURVE key"))?;
            dealer
                .set_curve_publickey(&curve.public)
                .map_err(zmq_err("set the CURVE public key"))?;
            dealer
                .set_curve_secretkey(&curve.secret)
                .map_err(zmq_err("set the CURVE secret key"))?;
        }
        dealer
            .connect(endpoint)
            .map_err(|source| RemoteError::Connect {
                endpoint: endpoint.to_owned(),
                source,
            })?;
        let inproc = format!("inproc://backlog-remote-{:016x}", fastrand::u64(..));
        let pull = ctx.socket(zmq::PULL).map_err(zmq_err("create the PULL"))?;
        pull.bind(&inproc)
            .map_err(zmq_err("bind the inproc PULL"))?;
        let push = ctx.socket(zmq::PUSH).map_err(zmq_err("create the PUSH"))?;
        push.set_linger(0).map_err(zmq_err("set LINGER"))?;
        push.connect(&inproc)
            .map_err(zmq_err("connect the inproc PUSH"))?;
        let (tx, inbound) = mpsc::channel(1024);
        let thread = std::thread::Builder::new()
            .name("backlog-remote-zmq".into())
            .spawn(move || run(dealer, pull, tx))
            .map_err(RemoteError::Thread)?;
        Ok(Link {
            push: Mutex::new(push),
            thread: Some(thread),
            inbound,
            endpoint: endpoint.to_owned(),
        })
    }

    /// Queues a message for the server. Fails only when the socket thread is gone or its
    /// queue is full; the caller's resend logic covers both.
    pub(crate) fn send(&self, message: &Message) -> Result<(), RemoteError> {
        let bytes = encode(message).map_err(|e| RemoteError::Encode(e.to_string()))?;
        let push = self.push.lock().map_err(|_| RemoteError::Closed)?;
        push.send(bytes, zmq::DONTWAIT)
            .map_err(|source| RemoteError::Zmq {
                what: "queue a message",
                source,
            })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // An empty frame tells the thread to stop.
        if let Ok(push) = self.push.lock() {
            let _ = push.send(&[][..], zmq::DONTWAIT);
        }
        self.inbound.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(dealer: zmq::Socket, pull: zmq::Socket, inbound: mpsc::Sender<Vec<u8>>) {
    loop {
        let (dealer_readable, pull_readable) = {
            let mut items = [
                dealer.as_poll_item(zmq::POLLIN),
                pull.as_poll_item(zmq::POLLIN),
            ];
            match zmq::poll(&mut items, -1) {
                Ok(_) => {}
                Err(zmq::Error::EINTR) => continue,
                Err(_) => return,
            }
            (items[0].is_readable(), items[1].is_readable())
        };
        if pull_readable {
            while let Ok(bytes) = pull.recv_bytes(zmq::DONTWAIT) {
                if bytes.is_empty() {
                    return;
                }
                // A full pipe to the server: dropped; outcomes are resent until answered.
                let _ = dealer.send(bytes, zmq::DONTWAIT);
            }
        }
        if dealer_readable {
            while let Ok(bytes) = dealer.recv_bytes(zmq::DONTWAIT) {
                if inbound.blocking_send(bytes).is_err() {
                    return;
                }
            }
        }
    }
}
