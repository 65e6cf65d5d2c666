//! The set of messages: [`Message`], its [`MessageType`] names and who may send each.

use serde::de::DeserializeOwned;

use crate::{
    Acknowledged, Cancel, Completed, ErrorReply, Extend, Failed, Goodbye, Heartbeat, HeartbeatAck,
    Hello, Order, Progress, Recorded, Rejected, Release, Request, Welcome,
};

/// Who may send a message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// Producers and workers, to the server.
    ToServer,
    /// The server, to producers and workers.
    ToClient,
    /// Either side.
    Both,
}

macro_rules! messages {
    ($($(#[$doc:meta])* $name:ident($body:ident) => $dir:ident,)*) => {
        /// Every message of the protocol. On the wire each is a CBOR map holding `v` (the
        /// protocol version), `type` (the variant's name) and the body's fields.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Message {
            $($(#[$doc])* $name($body),)*
        }

        /// The names of the message types, as written in the `type` field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum MessageType {
            $($(#[$doc])* $name,)*
        }

        impl MessageType {
            /// Every message type, in the spec's order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];

            /// The name written in the `type` field.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(MessageType::$name => stringify!($name),)*
                }
            }

            /// The type named `name` (case-sensitive), if the protocol defines one.
            pub fn from_name(name: &str) -> Option<MessageType> {
                match name {
                    $(stringify!($name) => Some(MessageType::$name),)*
                    _ => None,
                }
            }

            /// Who may send it.
            pub fn direction(self) -> Direction {
                match self {
                    $(MessageType::$name => Direction::$dir,)*
                }
            }
        }

        impl Message {
            /// This message's type.
            pub fn message_type(&self) -> MessageType {
                match self {
                    $(Message::$name(_) => MessageType::$name,)*
                }
            }

            /// The body as a CBOR value (a map of its fields).
            pub(crate) fn body_value(&self) -> Result<ciborium::Value, ciborium::value::Error> {
                match self {
                    $(Message::$name(body) => ciborium::Value::serialized(body),)*
                }
            }

            /// Reads the body of a message of type `ty` with `read`.
            pub(crate) fn read_body<E>(
                ty: MessageType,
                read: impl BodyReader<Error = E>,
            ) -> Result<Message, E> {
                match ty {
                    $(MessageType::$name => read.read::<$body>().map(Message::$name),)*
                }
            }
        }

        $(impl From<$body> for Message {
            fn from(body: $body) -> Message {
                Message::$name(body)
            }
        })*
    };
}

/// Reads a message body of a type chosen at run time.
pub(crate) trait BodyReader {
    type Error;
    fn read<T: DeserializeOwned>(self) -> Result<T, Self::Error>;
}

messages! {
    /// Opens a session.
    Hello(Hello) => ToServer,
    /// The session is open, under these limits.
    Welcome(Welcome) => ToClient,
    /// Enqueue jobs.
    Request(Request) => ToServer,
    /// The jobs are stored.
    Acknowledged(Acknowledged) => ToClient,
    /// The request was refused.
    Rejected(Rejected) => ToClient,
    /// Run this job.
    Order(Order) => ToClient,
    /// Alive; renew these leases.
    Heartbeat(Heartbeat) => ToServer,
    /// Leases renewed, except the lost ones; cancellations; commands.
    HeartbeatAck(HeartbeatAck) => ToClient,
    /// A longer lease for one execution.
    Extend(Extend) => ToServer,
    /// A running job's progress.
    Progress(Progress) => ToServer,
    /// A job given back unrun.
    Release(Release) => ToServer,
    /// A job succeeded.
    Completed(Completed) => ToServer,
    /// A job failed.
    Failed(Failed) => ToServer,
    /// A fenced write's result.
    Recorded(Recorded) => ToClient,
    /// Stop these jobs.
    Cancel(Cancel) => ToClient,
    /// A message could not be used.
    Error(ErrorReply) => Both,
    /// The session ends.
    Goodbye(Goodbye) => Both,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_directions_follow_the_spec() {
        assert_eq!(MessageType::ALL.len(), 17);
        for &ty in MessageType::ALL {
            assert_eq!(MessageType::from_name(ty.as_str()), Some(ty));
        }
        assert_eq!(
            MessageType::from_name("hello"),
            None,
            "names are case-sensitive"
        );
        assert_eq!(MessageType::Error.as_str(), "Error");
        assert_eq!(MessageType::Order.direction(), Direction::ToClient);
        assert_eq!(MessageType::Completed.direction(), Direction::ToServer);
        assert_eq!(MessageType::Goodbye.direction(), Direction::Both);
    }
}
