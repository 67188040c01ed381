//! One connection's client frames: `join`, `typing`, `read` and
//! re-authentication, each handled to the end before the next is read; `send`
//! and `react`, checked and queued in the order sent, then waited for while the
//! next frame is read (`pipeline`); and the answers to malformed ones.

use super::*;

impl Session {
    fn reply(&self, frame: ServerFrame) {
        self.conn.send(&frame);
    }

    fn error(&self, err: &ApiError, reference: Option<String>) {
        self.reply(ServerFrame::Error(ErrorFrame::from_api(err, reference)));
    }

    /// Answers a malformed frame; too many of them close the connection (1008).
    /// A `join` or `leave`: charged to the user's join rate, then the id parsed.
    async fn join_or_leave(&self, conversation: &str) -> Result<ConversationId, ApiError> {
        self.state
            .chat
            .rate_limits
            .check(&self.caller.id, Action::Join)
            .await?;
        access::conversation_id(conversation)
    }

    pub(super) fn bad_frame(&mut self, message: &str, reference: Option<String>) -> Option<Exit> {
        self.bad_frames += 1;
        self.error(&ApiError::new(ErrorCode::BadRequest, message), reference);
        (self.bad_frames > MAX_BAD_FRAMES)
            .then_some(Exit::Close(close_code::POLICY, "too many malformed frames"))
    }

    pub(super) async fn handle_text(&mut self, text: &str) -> Option<Exit> {
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(FrameError::TooLarge) => {
                return Some(Exit::Close(
                    close_code::TOO_BIG,
                    "frame too large (16 KiB max)",
                ));
            }
            Err(FrameError::Malformed(reason)) => {
                return self.bad_frame(&format!("malformed frame: {reason}"), None);
            }
        };
        // Every conversation id is checked for shape first, in one place
        // (`access::conversation_id`): a malformed one costs nothing more.
        let conversation = match &frame {
            ClientFrame::Join(f) => Some(&f.conversation),
            ClientFrame::Leave(f) => Some(&f.conversation),
            ClientFrame::Send(f) => Some(&f.conversation),
            ClientFrame::Typing(f) => Some(&f.conversation),
            ClientFrame::Read(f) => Some(&f.conversation),
            ClientFrame::React(f) => Some(&f.conversation),
            ClientFrame::Ping(_) | ClientFrame::Reauth(_) => None,
        };
        if let Some(Err(err)) = conversation.map(|id| access::conversation_id(id)) {
            self.error(&err, reference_of(&frame));
            return None;
        }
        match frame {
            ClientFrame::Ping(_) => self.reply(ServerFrame::Pong(PongFrame {})),
            ClientFrame::Join(join) => match self.join_or_leave(&join.conversation).await {
                Ok(conversation) => {
                    let resume = Since {
                        seq: join.since,
                        rev: join.since_rev,
                    };
                    self.join(&conversation, resume).await
                }
                Err(err) => self.error(&err, Some(join.conversation)),
            },
            ClientFrame::Leave(leave) => match self.join_or_leave(&leave.conversation).await {
                Ok(conversation) => {
                    if self.joined.remove(&conversation) {
                        self.state.hub.leave(&conversation, &self.conn);
                    }
                }
                Err(err) => self.error(&err, Some(leave.conversation)),
            },
            ClientFrame::Send(send) => return self.send(send).await,
            ClientFrame::Typing(typing) => match access::conversation_id(&typing.conversation) {
                Ok(conversation) => self.typing(&conversation).await,
                Err(err) => self.error(&err, Some(typing.conversation)),
            },
            ClientFrame::Read(read) => {
                let marked = match access::conversation_id(&read.conversation) {
                    Ok(conversation) => {
                        messages::mark_read(&self.state.chat, &self.caller, &conversation, read.seq)
                            .await
                    }
                    Err(err) => Err(err),
                };
                if let Err(err) = marked {
                    self.error(&err, Some(read.conversation));
                }
            }
            ClientFrame::Reauth(reauth) => return self.reauth(&reauth.token).await,
            ClientFrame::React(react) => {
                // The message must be in the conversation named (its id says
                // which): any other is not found, like a message you cannot see.
                let submitted = match crate::ids::MessageId::parse(&react.message).filter(|id| {
                    id.parts()
                        .is_some_and(|(c, _)| c.as_str() == react.conversation)
                }) {
                    Some(id) => {
                        reactions::submit(
                            &self.state.chat,
                            &self.caller,
                            &id,
                            &react.emoji,
                            react.on,
                        )
                        .await
                    }
                    None => Err(ApiError::not_found("message")),
                };
                let reference = reference_of(&ClientFrame::React(react));
                match submitted {
                    // Queued in the order sent: the next frame is read while it
                    // waits for the conversation's edit lock (so a busy room's
                    // toggles are applied together), like a send; the
                    // `reaction` event is its answer, a failure an error frame.
                    Ok(toggle) => {
                        let conn = self.conn.clone();
                        self.pipeline(async move {
                            if let Err(err) = toggle.wait().await {
                                conn.send(&ServerFrame::Error(ErrorFrame::from_api(
                                    &err, reference,
                                )));
                            }
                        })
                        .await;
                    }
                    Err(err) => self.error(&err, reference),
                }
            }
        }
        None
    }

    /// Subscribes to a room, replays what was missed since `since`, then `joined`.
    /// The writer registers the connection under the conversation's lock, so the
    /// replay and the live stream neither overlap nor leave a gap.
    async fn join(&mut self, conversation: &ConversationId, resume: Since) {
        let joined = messages::join(
            &self.state.chat,
            &self.caller,
            conversation,
            resume,
            |visible, replay, changes| {
                let online = self.state.hub.join_as(conversation, &self.conn, visible);
                // Queued before the lock is released: no live message can come
                // between (or before) them.
                let me = &self.caller.id;
                for message in replay {
                    self.reply(ServerFrame::Message(MessageFrame::seen_by(message, me)));
                }
                for message in changes {
                    self.reply(change_frame(message, me));
                }
                online
            },
        )
        .await;
        match joined {
            Ok(crate::chat::writer::Joined {
                registered: mut online,
                last_seq,
                truncated,
                last_rev,
                changes_truncated,
                ..
            }) => {
                // `online` includes you, also where you are not shown to others
                // (a DM you have not written in yet).
                if !online.iter().any(|u| u.id == self.conn.user.id) {
                    online.push(self.conn.user.clone());
                }
                self.joined.insert(conversation.clone());
                self.reply(ServerFrame::Joined(JoinedFrame {
                    conversation: conversation.clone(),
                    last_seq,
                    online,
                    truncated,
                    last_rev,
                    changes_truncated,
                }));
            }
            Err(err) => {
                if self.joined.remove(conversation) {
                    self.state.hub.leave(conversation, &self.conn);
                }
                self.error(&err, Some(conversation.to_string()));
            }
        }
    }

    async fn send(&mut self, send: SendFrame) -> Option<Exit> {
        let SendFrame {
            conversation,
            body,
            client_id,
            reply_to,
        } = send;
        let reference = client_id.clone().or_else(|| Some(conversation.clone()));
        // The ack is queued when the message is stored, before its fan-out, so the
        // sender sees the ack before the echo of its own message.
        let conn = self.conn.clone();
        let ack: OnStored = Box::new(move |message| {
            conn.send(&ack_of(message));
        });
        let submitted = match access::conversation_id(&conversation) {
            Ok(conversation) => {
                messages::enqueue(
                    &self.state.chat,
                    &self.caller,
                    &conversation,
                    &body,
                    client_id.as_deref(),
                    reply_to.as_deref(),
                    Some(ack),
                )
                .await
            }
            Err(err) => Err(err),
        };
        match submitted {
            // Queued with its seq: the next frame is read while it is stored (so a
            // connection's sends are batched together), and the outcome arrives on
            // its own. A new message is acked by the hook above; a repeat gets the
            // first ack again (nothing stored, nothing fanned out); a failure gets
            // an error frame.
            Ok(ticket) => {
                let conn = self.conn.clone();
                self.pipeline(async move {
                    let frame = match ticket.wait().await {
                        Ok((message, false)) => ack_of(&message),
                        Ok((_, true)) => return,
                        Err(err) => ServerFrame::Error(ErrorFrame::from_api(&err, reference)),
                    };
                    conn.send(&frame);
                })
                .await;
            }
            // The user's send rate (shared with REST and their other sockets):
            // an error each time, and a run of them closes with 4008.
            Err(err) if err.code == ErrorCode::RateLimited => {
                self.rate_strikes += 1;
                if self.rate_strikes >= RATE_STRIKES {
                    return Some(Exit::Close(
                        close_code::RATE_LIMITED,
                        "send rate limit exceeded",
                    ));
                }
                self.error(&err, reference);
                return None;
            }
            Err(err) => self.error(&err, reference),
        }
        self.rate_strikes = 0;
        None
    }

    /// Runs the rest of a send or a reaction (its wait and its answer) while
    /// the connection reads on. Backpressure: a connection with
    /// `SENDS_IN_FLIGHT` of them waits for the oldest before reading on. Each
    /// brings an answer or an echo into the connection's own queue; unbounded
    /// pipelining would overflow it (4009) with the connection's own answers.
    async fn pipeline(&mut self, rest: impl Future<Output = ()> + Send + 'static) {
        while self.sends.try_join_next().is_some() {}
        if self.sends.len() >= SENDS_IN_FLIGHT {
            self.sends.join_next().await;
        }
        self.sends.spawn(rest);
    }

    /// Typing notices: at most one per room every `TYPING_THROTTLE_MS`, within
    /// the user's typing rate; extras are dropped silently. Only rooms the caller
    /// may send to are recorded, in a map of bounded size.
    async fn typing(&mut self, conversation: &ConversationId) {
        if self
            .last_typing
            .is_recent(conversation.as_str(), Instant::now())
            || self
                .state
                .chat
                .rate_limits
                .check(&self.caller.id, Action::Typing)
                .await
                .is_err()
        {
            return;
        }
        match access::room(
            &self.state.chat,
            &self.caller,
            conversation,
            GroupAction::Send,
        )
        .await
        {
            Ok(room) => {
                self.last_typing
                    .record(conversation.as_str(), Instant::now());
                self.state
                    .hub
                    .typing(&room.conversation, &self.conn.user, self.conn.id);
            }
            Err(err) => self.error(&err, Some(conversation.to_string())),
        }
    }

    /// Swaps in a fresh access token for the same user, moving the expiry.
    async fn reauth(&mut self, token: &str) -> Option<Exit> {
        match authenticate(&self.state.auth, token).await {
            Ok(user) if user.id == self.caller.id => {
                self.token_expires_at = user.token_expires_at;
                self.caller = Caller::from(&user);
                None
            }
            Ok(_) => Some(Exit::Close(
                close_code::FORBIDDEN,
                "reauth must be for the same user",
            )),
            Err(err) if err.code == ErrorCode::DatabaseUnavailable => {
                self.error(&err, None);
                None
            }
            Err(err) => {
                self.error(&err, None);
                Some(Exit::Close(
                    close_code::UNAUTHORIZED,
                    "reauth token refused",
                ))
            }
        }
    }
}

/// The `ack` of a stored message: sent once, by the hook when it is stored, or
/// again to a repeat of its `client_id`.
fn ack_of(message: &crate::store::messages::MessageDoc) -> ServerFrame {
    ServerFrame::Ack(AckFrame {
        client_id: message.client_id.clone(),
        id: message.id.clone(),
        seq: message.seq,
    })
}
