//! The ZAP handler (ZeroMQ RFC 27) that admits CURVE clients by public key, on its own thread
//! and `REP` socket in the server's context.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::ServerError;

/// The ZAP domain the server's `ROUTER` asks about.
pub(crate) const DOMAIN: &str = "backlog";

/// The running handler; stopped by [`ZapHandle::stop`].
pub(crate) struct ZapHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ZapHandle {
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds `inproc://zeromq.zap.01` and answers every request: 200 for a CURVE client whose
/// public key is in `allowed`, 400 for anything else.
pub(crate) fn start(
    ctx: &zmq::Context,
    allowed: HashSet<[u8; 32]>,
) -> Result<ZapHandle, ServerError> {
    let rep = ctx.socket(zmq::REP).map_err(|source| ServerError::Zmq {
        what: "create the ZAP socket",
        source,
    })?;
    rep.set_linger(0).map_err(|source| ServerError::Zmq {
        what: "set LINGER",
        source,
    })?;
    rep.bind("inproc://zeromq.zap.01")
        .map_err(|source| ServerError::Zmq {
            what: "bind the ZAP handler (is another server running in this process's context?)",
            source,
        })?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("backlog-zap".into())
        .spawn(move || run(rep, allowed, flag))
        .map_err(ServerError::Thread)?;
    Ok(ZapHandle {
        stop,
        thread: Some(thread),
    })
}

fn run(rep: zmq::Socket, allowed: HashSet<[u8; 32]>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        // Wakes every 100 ms to notice the stop flag; requests are answered at once.
        match rep.poll(zmq::POLLIN, 100) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let Ok(frames) = rep.recv_multipart(0) else {
            continue;
        };
        // version, request id, domain, address, routing id, mechanism, credentials...
        let version = frames.first().cloned().unwrap_or_default();
        let request_id = frames.get(1).cloned().unwrap_or_default();
        let admitted = version == b"1.0"
            && frames.get(2).map(|d| d.as_slice()) == Some(DOMAIN.as_bytes())
            && frames.get(5).map(|m| m.as_slice()) == Some(b"CURVE".as_slice())
            && frames
                .get(6)
                .and_then(|key| <[u8; 32]>::try_from(key.as_slice()).ok())
                .is_some_and(|key| allowed.contains(&key));
        let (code, text): (&[u8], &[u8]) = if admitted {
            (b"200", b"OK")
        } else {
            tracing::info!("refused a client whose CURVE public key is not allowed");
            (b"400", b"public key not allowed")
        };
        let reply: [&[u8]; 6] = [b"1.0", &request_id, code, text, b"", b""];
        if rep.send_multipart(reply, 0).is_err() {
            return;
        }
    }
}
