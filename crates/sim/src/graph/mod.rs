//! The Graph API of Facebook Pages (`/facebook`, standing in for `graph.facebook.com`) and
//! Instagram (`/instagram`, for `graph.instagram.com`), per sections 1, 2 and 6.1–6.8 of
//! `channel-apis.md`.
//!
//! A request goes through the same steps as on Graph: the token (190 with a subcode, or
//! 104 without one), the object and whether the token may see it (100/33), the permission
//! (200 for messaging, 10 for engagement, 210 for a user token on a Page-only edge), the
//! rate limits (BUC or Platform, plus 2 calls/s on conversations), then the parameters
//! (100, or 1 "reduce the amount of data") and the answer. Usage headers are attached from
//! the rate-limit step on, to errors too.

mod fields;
mod paging;
mod render;

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::Channel;
use crate::dataset::{Account, Comment, Conversation, Dataset, Folder, Message, ObjectRef, Post};
use crate::limits::{BucType, RollingWindow};
use crate::server::{Reply, Request, Shared, lock};
use crate::settings::{ConversationsRateScope, GraphErrorSpec, RateBudget, UnsupportedParam};
use crate::stats::Outcome;
use crate::tokens::{Permission, RevokeReason, TokenInfo, TokenKind};
use paging::Edge;
use render::{Ctx, Node, limit_of, page_request, requested};

/// A Graph error, rendered as `{"error":{message,type,code,error_subcode?,fbtrace_id}}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphError {
    code: u32,
    subcode: Option<u32>,
    message: String,
    kind: &'static str,
    status: u16,
    transient: bool,
    outcome: Outcome,
}

impl GraphError {
    fn new(code: u32, message: impl Into<String>) -> Self {
        GraphError {
            code,
            subcode: None,
            message: message.into(),
            kind: "OAuthException",
            status: 400,
            transient: false,
            outcome: Outcome::Error,
        }
    }

    /// Code 100, invalid parameter [M2].
    pub(crate) fn param(message: impl Into<String>) -> Self {
        GraphError::new(100, message)
    }

    fn from_spec(spec: &GraphErrorSpec, outcome: Outcome) -> Self {
        GraphError {
            subcode: spec.subcode,
            status: spec.http_status,
            outcome,
            ..GraphError::new(spec.code, spec.message.clone())
        }
    }

    fn subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }

    fn throttle(code: u32, message: &str, status: u16) -> Self {
        GraphError {
            status,
            outcome: Outcome::Throttled,
            ..GraphError::new(code, message)
        }
    }

    /// 100/33, what Graph answers for an object that does not exist or that the token may
    /// not see: the two are indistinguishable on purpose.
    fn unsupported_get(id: &str) -> Self {
        GraphError {
            kind: "GraphMethodException",
            ..GraphError::new(
                100,
                format!(
                    "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
                ),
            )
        }
        .subcode(33)
    }

    fn token(reason: Option<RevokeReason>) -> Self {
        let (subcode, message) = match reason {
            None => (
                467,
                "Invalid OAuth access token - Cannot parse access token",
            ),
            Some(RevokeReason::PasswordChanged) => (
                460,
                "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
            ),
            Some(RevokeReason::SessionInvalidated) => (
                492,
                "Error validating access token: The session is invalid. The user may have lost their role on the Page.",
            ),
            Some(RevokeReason::Expired) => {
                (463, "Error validating access token: Session has expired.")
            }
        };
        GraphError::new(190, message).subcode(subcode)
    }

    fn into_reply(self, trace_id: String, mut headers: Vec<(&'static str, String)>) -> Reply {
        let mut error = Map::new();
        error.insert("message".into(), json!(self.message));
        error.insert("type".into(), json!(self.kind));
        if self.transient {
            error.insert("is_transient".into(), json!(true));
        }
        error.insert("code".into(), json!(self.code));
        if let Some(subcode) = self.subcode {
            error.insert("error_subcode".into(), json!(subcode));
        }
        error.insert("fbtrace_id".into(), json!(trace_id));
        if self.code == 190 {
            headers.push((
                "www-authenticate",
                format!(
                    "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                    self.message
                ),
            ));
        }
        Reply {
            status: self.status,
            headers,
            body: json!({ "error": error }),
            outcome: self.outcome,
        }
    }
}

/// The body of an injected 5xx: code 2, transient [M8].
pub(crate) fn server_error_body(trace_id: String) -> Value {
    json!({ "error": {
        "message": "An unexpected error has occurred. Please retry your request later.",
        "type": "OAuthException", "is_transient": true, "code": 2, "fbtrace_id": trace_id,
    }})
}

/// Builds absolute `next`/`previous` URLs pointing back at the simulator. Like Graph, they
/// carry the `access_token` query parameter: a client must not log them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Links<'a> {
    base: &'a str,
    channel: Channel,
    version: Option<&'a str>,
    token: &'a str,
}

impl Links<'_> {
    fn prefix(&self, path: &str) -> String {
        match self.version {
            Some(version) => format!("{}/{}/{version}/{path}", self.base, self.channel),
            None => format!("{}/{}/{path}", self.base, self.channel),
        }
    }

    /// `path` with the token first, then `params`.
    pub(super) fn url(&self, path: &str, params: &[(&str, String)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("access_token", self.token);
        for (k, v) in params {
            query.append_pair(k, v);
        }
        format!("{}?{}", self.prefix(path), query.finish())
    }

    /// The request's own URL with its cursor replaced, every other parameter kept.
    fn same(&self, path: &str, request: &Request, cursor: &str, value: String) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if request.param("access_token").is_none() {
            query.append_pair("access_token", self.token);
        }
        for (k, v) in &request.query {
            if k != "after" && k != "before" {
                query.append_pair(k, v);
            }
        }
        query.append_pair(cursor, &value);
        format!("{}?{}", self.prefix(path), query.finish())
    }
}

/// What a request asks for, once its path is resolved.
enum Endpoint<'d> {
    AccountNode,
    Conversations,
    Feed(FeedKind),
    Media,
    ConversationNode(&'d Conversation),
    Messages(&'d Conversation),
    MessageNode(&'d Conversation, Message),
    PostNode(&'d Post),
    Comments(&'d Post, Option<&'d Comment>),
    CommentNode(&'d Post, &'d Comment),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedKind {
    /// Everything on the Page, visitors' posts and unpublished ones included [M10].
    Feed,
    /// The Page's own published posts.
    Posts,
}

impl Endpoint<'_> {
    /// Conversations API calls: the "messenger" BUC type [M6].
    fn is_messaging(&self) -> bool {
        matches!(
            self,
            Endpoint::Conversations
                | Endpoint::ConversationNode(_)
                | Endpoint::Messages(_)
                | Endpoint::MessageNode(..)
        )
    }

    /// Calls addressed to the Page itself: code 32 rather than 17 for user tokens [M6].
    fn is_page_call(&self) -> bool {
        matches!(
            self,
            Endpoint::AccountNode | Endpoint::Conversations | Endpoint::Feed(_) | Endpoint::Media
        )
    }
}

pub(crate) fn handle(shared: &Shared, channel: Channel, request: &Request) -> Reply {
    let mut headers = Vec::new();
    let result = serve(shared, channel, request, &mut headers);
    if let Some(version) = version_of(request) {
        headers.push(("facebook-api-version", version.to_owned()));
    }
    let trace_id = shared.trace_id();
    headers.push(("x-fb-trace-id", trace_id.clone()));
    match result {
        Ok(body) => Reply {
            status: 200,
            headers,
            body,
            outcome: Outcome::Served,
        },
        Err(error) => error.into_reply(trace_id, headers),
    }
}

fn version_of(request: &Request) -> Option<&str> {
    request.segments().next().filter(|s| is_version(s))
}

/// `vNN.N`: Graph accepts any version in the path, or none.
fn is_version(segment: &str) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    segment
        .strip_prefix('v')
        .and_then(|digits| digits.split_once('.'))
        .is_some_and(|(major, minor)| numeric(major) && numeric(minor))
}

/// The token of a Graph request: the `access_token` parameter or `Authorization: Bearer`.
pub(crate) fn token_of(request: &Request) -> Option<&str> {
    request.param("access_token").or_else(|| {
        request
            .header("authorization")
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("OAuth "))
            })
            .map(str::trim)
    })
}

/// The account a request would be charged to, for statistics: the token's, else the
/// addressed object's.
pub(crate) fn account_of(shared: &Shared, request: &Request) -> Option<usize> {
    if let Some(info) = token_of(request).and_then(|t| lock(&shared.tokens).get(t).cloned()) {
        return Some(info.account);
    }
    let id = request.segments().find(|s| !is_version(s))?;
    match shared.dataset.object(id) {
        Some(
            ObjectRef::Account(a)
            | ObjectRef::Conversation(a, _)
            | ObjectRef::Post(a, _)
            | ObjectRef::Comment(a, ..),
        ) => Some(a),
        None => shared
            .dataset
            .graph_message(id)
            .map(|(account, ..)| account.ix),
    }
}

/// A short name of what was called, for statistics.
pub(crate) fn endpoint_of(dataset: &Dataset, request: &Request) -> String {
    let segments: Vec<&str> = request.segments().filter(|s| !is_version(s)).collect();
    match segments.as_slice() {
        [_, edge] => (*edge).to_owned(),
        [id] => match dataset.object(id) {
            Some(ObjectRef::Account(_)) => "account",
            Some(ObjectRef::Conversation(..)) => "conversation",
            Some(ObjectRef::Post(..)) => "post",
            Some(ObjectRef::Comment(..)) => "comment",
            None if dataset.graph_message(id).is_some() => "message",
            None => "node",
        }
        .to_owned(),
        _ => "other".to_owned(),
    }
}

fn serve(
    shared: &Shared,
    channel: Channel,
    request: &Request,
    headers: &mut Vec<(&'static str, String)>,
) -> Result<Value, GraphError> {
    if request.method != "GET" {
        return Err(GraphError::param(format!(
            "Unsupported {} request. The simulator serves reads only.",
            request.method.as_str().to_lowercase()
        )));
    }
    let version = version_of(request);
    let path: Vec<&str> = request
        .segments()
        .skip(usize::from(version.is_some()))
        .collect();
    let (id, edge) = match path.as_slice() {
        [id] => (*id, None),
        [id, edge] => (*id, Some(*edge)),
        _ => {
            return Err(GraphError::new(
                2500,
                format!("Unknown path components: /{}", path.join("/")),
            ));
        }
    };
    let token = token_of(request).ok_or_else(|| {
        GraphError::new(104, "An access token is required to request this resource.")
    })?;
    let info = lock(&shared.tokens)
        .get(token)
        .cloned()
        .ok_or_else(|| GraphError::token(None))?;
    if let Some(reason) = info.revoked {
        return Err(GraphError::token(Some(reason)));
    }
    let dataset = &*shared.dataset;
    let account = dataset.account_at(info.account);
    let fits = match channel {
        Channel::Facebook => matches!(info.kind, TokenKind::Page | TokenKind::User),
        _ => info.kind == TokenKind::Instagram,
    };
    if !fits || account.channel != channel {
        return Err(GraphError::token(None));
    }
    let endpoint = resolve(dataset, account, &info, id, edge)?;
    check_permission(channel, &info, &endpoint)?;
    let settings = &shared.settings.graph;
    charge(shared, channel, account, token, &info, &endpoint, headers)?;
    let ctx = Ctx {
        dataset,
        settings,
        channel,
        account,
        links: Links {
            base: &shared.base,
            channel,
            version,
            token,
        },
    };
    let this = &path.join("/");
    match endpoint {
        Endpoint::AccountNode => {
            let node = if channel == Channel::Instagram {
                Node::InstagramUser
            } else {
                Node::Page
            };
            Ok(ctx.account_node(&requested(request.param("fields"), node)?))
        }
        Endpoint::Conversations => list_conversations(&ctx, request, this),
        Endpoint::Feed(kind) => list_posts(&ctx, request, this, Some(kind)),
        Endpoint::Media => list_posts(&ctx, request, this, None),
        Endpoint::ConversationNode(c) => {
            ctx.conversation(c, &requested(request.param("fields"), Node::Conversation)?)
        }
        Endpoint::Messages(c) => list_messages(&ctx, request, this, c),
        Endpoint::MessageNode(c, message) => {
            let fields = requested(request.param("fields"), Node::Message)?;
            if !ctx.detailed(c.message_count - 1 - message.index) {
                return Err(GraphError::from_spec(
                    &settings.deleted_message_error,
                    Outcome::Error,
                ));
            }
            Ok(ctx.message(c, &message, &fields))
        }
        Endpoint::PostNode(p) if channel == Channel::Instagram => {
            ctx.media(p, &requested(request.param("fields"), Node::Media)?)
        }
        Endpoint::PostNode(p) => ctx.post(p, &requested(request.param("fields"), Node::Post)?),
        Endpoint::Comments(p, parent) => list_comments(&ctx, request, this, p, parent),
        Endpoint::CommentNode(p, c) => {
            let node = if channel == Channel::Instagram {
                Node::InstagramComment
            } else {
                Node::Comment
            };
            ctx.comment(p, c, &requested(request.param("fields"), node)?)
        }
    }
}

/// Finds the object and the edge, and refuses objects of other accounts with 100/33.
fn resolve<'d>(
    dataset: &'d Dataset,
    account: &'d Account,
    info: &TokenInfo,
    id: &str,
    edge: Option<&str>,
) -> Result<Endpoint<'d>, GraphError> {
    let instagram = account.channel == Channel::Instagram;
    let unknown_edge = |node: &str, edge: &str| {
        GraphError::param(format!(
            "(#100) Tried accessing nonexisting field ({edge}) on node type ({node})"
        ))
    };
    let object = if id == "me" {
        if info.kind == TokenKind::User {
            // A user token's `me` is the person, whom the simulator does not model.
            return Err(GraphError::unsupported_get(id));
        }
        Some(ObjectRef::Account(account.ix))
    } else {
        dataset.object(id)
    };
    let owner_matches = |a: usize| a == account.ix;
    match (object, edge) {
        (Some(ObjectRef::Account(a)), edge) if owner_matches(a) => match edge {
            None => Ok(Endpoint::AccountNode),
            Some("conversations") => Ok(Endpoint::Conversations),
            Some("feed") if !instagram => Ok(Endpoint::Feed(FeedKind::Feed)),
            Some("posts" | "published_posts") if !instagram => Ok(Endpoint::Feed(FeedKind::Posts)),
            Some("media") if instagram => Ok(Endpoint::Media),
            Some(edge) => Err(unknown_edge(if instagram { "User" } else { "Page" }, edge)),
        },
        (Some(ObjectRef::Conversation(a, c)), edge) if owner_matches(a) => {
            let conversation = &account.conversations[c];
            match edge {
                None => Ok(Endpoint::ConversationNode(conversation)),
                Some("messages") => Ok(Endpoint::Messages(conversation)),
                Some(edge) => Err(unknown_edge("Conversation", edge)),
            }
        }
        (Some(ObjectRef::Post(a, p)), edge) if owner_matches(a) => {
            let post = &account.posts[p];
            match edge {
                None => Ok(Endpoint::PostNode(post)),
                Some("comments") => Ok(Endpoint::Comments(post, None)),
                Some(edge) => Err(unknown_edge(if instagram { "Media" } else { "Post" }, edge)),
            }
        }
        (Some(ObjectRef::Comment(a, p, k)), edge) if owner_matches(a) => {
            let post = &account.posts[p];
            let comment = &post.comments[k];
            match edge {
                None => Ok(Endpoint::CommentNode(post, comment)),
                Some("comments") if !instagram => Ok(Endpoint::Comments(post, Some(comment))),
                Some("replies") if instagram => Ok(Endpoint::Comments(post, Some(comment))),
                Some(edge) => Err(unknown_edge("Comment", edge)),
            }
        }
        (None, None) => match dataset.graph_message(id) {
            Some((owner, conversation, message)) if owner.ix == account.ix => {
                Ok(Endpoint::MessageNode(conversation, message))
            }
            _ => Err(GraphError::unsupported_get(id)),
        },
        _ => Err(GraphError::unsupported_get(id)),
    }
}

fn check_permission(
    channel: Channel,
    info: &TokenInfo,
    endpoint: &Endpoint<'_>,
) -> Result<(), GraphError> {
    let messaging = endpoint.is_messaging();
    if messaging && info.kind == TokenKind::User {
        return Err(GraphError::new(
            210,
            "(#210) A page access token is required to request this resource.",
        ));
    }
    let (needed, code, message) = match (channel, messaging) {
        (Channel::Instagram, true) => (
            Permission::InstagramManageMessages,
            200,
            "(#200) Requires instagram_business_manage_messages permission to manage the object",
        ),
        (Channel::Instagram, false) => (
            Permission::InstagramManageComments,
            10,
            "(#10) Application does not have permission for this action",
        ),
        (_, true) => (
            Permission::PagesMessaging,
            200,
            "(#200) Requires pages_messaging permission to manage the object",
        ),
        (_, false) => (
            Permission::PagesReadEngagement,
            10,
            "(#10) This endpoint requires the 'pages_read_engagement' permission or the 'Page Public Content Access' feature.",
        ),
    };
    if info.denied.contains(&needed) {
        return Err(GraphError {
            status: 403,
            ..GraphError::new(code, message)
        });
    }
    Ok(())
}

/// Charges the call to the rate-limit windows it falls under and sets the usage header
/// (M6, M7). Refused calls are not counted; calls refused while blocked extend the block.
fn charge(
    shared: &Shared,
    channel: Channel,
    account: &Account,
    token: &str,
    info: &TokenInfo,
    endpoint: &Endpoint<'_>,
    headers: &mut Vec<(&'static str, String)>,
) -> Result<(), GraphError> {
    let settings = &shared.settings.graph;
    let now = Instant::now();
    let extension = Duration::from_secs_f64(settings.block_extension_secs.max(0.0));
    let threshold = settings.usage_header_threshold_pct;
    if info.kind == TokenKind::User {
        let mut guard = lock(&shared.limits);
        let limits = &mut *guard;
        let user = limits.users.entry(token.to_owned()).or_default();
        let refusal = if !limits.app.has_room(now, settings.app_budget) {
            limits.app.admit(now, settings.app_budget, extension);
            Some(GraphError::throttle(
                4,
                "(#4) Application request limit reached",
                settings.app_throttle_http_status,
            ))
        } else if !user.has_room(now, settings.user_budget) {
            user.admit(now, settings.user_budget, extension);
            Some(if endpoint.is_page_call() {
                GraphError::throttle(
                    32,
                    "(#32) Page request limit reached",
                    settings.throttle_http_status,
                )
            } else {
                GraphError::throttle(
                    17,
                    "(#17) User request limit reached",
                    settings.throttle_http_status,
                )
            })
        } else {
            limits.app.admit(now, settings.app_budget, extension);
            user.admit(now, settings.user_budget, extension);
            None
        };
        // X-App-Usage is flat [M6]; it reports whichever of the two budgets is fuller.
        let call_count = limits
            .app
            .usage_pct(now, settings.app_budget)
            .max(user.usage_pct(now, settings.user_budget));
        if call_count >= threshold {
            headers.push((
                "x-app-usage",
                json!({ "call_count": call_count, "total_cputime": call_count * 3 / 5, "total_time": call_count * 4 / 5 })
                    .to_string(),
            ));
        }
        return refusal.map_or(Ok(()), Err);
    }

    let buc = match (channel, endpoint.is_messaging()) {
        (Channel::Instagram, _) => BucType::Instagram,
        (_, true) => BucType::Messenger,
        (_, false) => BucType::Pages,
    };
    let budget = shared.budget(channel, account.ix, settings.buc_budget);
    let per_second = settings.conversations_calls_per_second;
    let rate_applies = match settings.conversations_rate_scope {
        ConversationsRateScope::Listing => matches!(endpoint, Endpoint::Conversations),
        ConversationsRateScope::AllConversationReads => endpoint.is_messaging(),
    };
    let mut guard = lock(&shared.limits);
    let limits = &mut *guard;
    let window = limits.buc.entry((account.ix, buc)).or_default();
    let conversations = limits.conversations.entry(account.ix).or_default();
    let refusal = if !window.has_room(now, budget) {
        window.admit(now, budget, extension);
        let (code, message) = match buc {
            BucType::Pages => (
                80001,
                "(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            ),
            BucType::Messenger => (
                80006,
                "(#80006) There have been too many messenger api calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            ),
            BucType::Instagram => (
                80002,
                "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            ),
        };
        Some(GraphError::throttle(
            code,
            message,
            settings.throttle_http_status,
        ))
    } else if rate_applies && !conversations.has_room(now, per_second) {
        Some(GraphError::from_spec(
            &settings.conversations_rate_error,
            Outcome::Throttled,
        ))
    } else {
        window.admit(now, budget, extension);
        if rate_applies {
            conversations.try_record(now, per_second);
        }
        None
    };
    let mut entries = Vec::new();
    let mut busiest = 0;
    for kind in [BucType::Pages, BucType::Messenger, BucType::Instagram] {
        if let Some(window) = limits.buc.get_mut(&(account.ix, kind)) {
            entries.push(usage_entry(kind, window, now, budget));
            busiest = busiest.max(window.usage_pct(now, budget));
        }
    }
    if busiest >= threshold {
        headers.push((
            "x-business-use-case-usage",
            json!({ account.id.as_str(): entries }).to_string(),
        ));
    }
    refusal.map_or(Ok(()), Err)
}

fn usage_entry(
    kind: BucType,
    window: &mut RollingWindow,
    now: Instant,
    budget: RateBudget,
) -> Value {
    let call_count = window.usage_pct(now, budget);
    json!({
        "type": kind.as_str(),
        "call_count": call_count,
        "total_cputime": call_count * 3 / 5,
        "total_time": call_count * 4 / 5,
        "estimated_time_to_regain_access": window.blocked_for(now).as_secs().div_ceil(60),
    })
}

/// `/{page-id}/conversations` and `/me/conversations` [M1, M2, IG1].
fn list_conversations(ctx: &Ctx<'_>, request: &Request, this: &str) -> Result<Value, GraphError> {
    let settings = ctx.settings;
    if settings.conversations_since_until == UnsupportedParam::Reject
        && (request.param("since").is_some() || request.param("until").is_some())
    {
        return Err(GraphError::param(
            "(#100) Time-based pagination is not available for the conversations endpoint; use cursors",
        ));
    }
    let own_platform = if ctx.channel == Channel::Instagram {
        "instagram"
    } else {
        "messenger"
    };
    let platform_matches = match request
        .param("platform")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => true,
        Some(p) if p == own_platform => true,
        // The Page has no linked Instagram account in the dataset, nor vice versa.
        Some("messenger" | "instagram") => false,
        Some(other) => {
            return Err(GraphError::param(format!(
                "(#100) param platform must be one of {{MESSENGER, INSTAGRAM}} - got \"{other}\""
            )));
        }
    };
    let folder = request.param("folder");
    let user_id = request.param("user_id");
    let conversations: Vec<&Conversation> = ctx
        .account
        .conversations
        .iter()
        .filter(|c| platform_matches && c.listed)
        .filter(|c| match folder {
            None => true,
            Some("inbox") => c.folder == Folder::Inbox,
            Some("pending") => c.folder == Folder::Pending,
            // other, spam, page_done...: values seen in practice, empty here.
            Some(_) => false,
        })
        .filter(|c| user_id.is_none_or(|u| c.customer.id == u))
        .collect();
    let fields = requested(request.param("fields"), Node::Conversation)?;
    let limit = limit_of(
        request.param("limit"),
        settings.conversations_limit,
        "conversations",
    )?;
    if let Some(messages) = fields.iter().find(|f| f.name == "messages") {
        let nested = limit_of(
            messages.modifier("limit"),
            settings.messages_limit,
            "messages",
        )?;
        if (limit * nested) as u64 > u64::from(settings.reduce_data_threshold) {
            return Err(GraphError::from_spec(
                &settings.reduce_data_error,
                Outcome::Error,
            ));
        }
    }
    let edge = Edge::new(ctx.dataset.seed(), "conversations", this);
    let page = page_request(
        &edge,
        limit,
        request.param("after"),
        request.param("before"),
    )?;
    let out = ctx.page(
        &edge,
        conversations.len(),
        page,
        |i| ctx.conversation(conversations[i], &fields),
        |cursor, value| ctx.links.same(this, request, cursor, value),
    )?;
    Ok(Value::Object(out))
}

/// `/{conversation-id}/messages`, newest first [M1, M3].
fn list_messages(
    ctx: &Ctx<'_>,
    request: &Request,
    this: &str,
    c: &Conversation,
) -> Result<Value, GraphError> {
    let fields = requested(request.param("fields"), Node::Message)?;
    let limit = limit_of(
        request.param("limit"),
        ctx.settings.messages_limit,
        "messages",
    )?;
    let edge = Edge::new(ctx.dataset.seed(), "messages", &c.id);
    let page = page_request(
        &edge,
        limit,
        request.param("after"),
        request.param("before"),
    )?;
    let out = ctx.page(
        &edge,
        c.message_count as usize,
        page,
        |rank| ctx.message_in_list(c, rank as u32, &fields),
        |cursor, value| ctx.links.same(this, request, cursor, value),
    )?;
    Ok(Value::Object(out))
}

/// `/feed`, `/posts`, `/published_posts` [M10] (`kind` given) or IG `/media` [IG3], newest
/// first, with `since`/`until` time filters.
fn list_posts(
    ctx: &Ctx<'_>,
    request: &Request,
    this: &str,
    kind: Option<FeedKind>,
) -> Result<Value, GraphError> {
    let since = time_param(request, "since")?;
    let until = time_param(request, "until")?;
    let posts: Vec<&Post> = ctx
        .account
        .posts
        .iter()
        .filter(|p| kind != Some(FeedKind::Posts) || (p.by_account && p.is_published))
        .filter(|p| since.is_none_or(|s| p.created_at.timestamp() >= s))
        .filter(|p| until.is_none_or(|u| p.created_at.timestamp() <= u))
        .collect();
    let (node, rule, name) = match kind {
        Some(_) => (Node::Post, ctx.settings.feed_limit, "feed"),
        None => (Node::Media, ctx.settings.media_limit, "media"),
    };
    let fields = requested(request.param("fields"), node)?;
    let limit = limit_of(request.param("limit"), rule, name)?;
    let edge = Edge::new(ctx.dataset.seed(), name, this);
    let page = page_request(
        &edge,
        limit,
        request.param("after"),
        request.param("before"),
    )?;
    let out = ctx.page(
        &edge,
        posts.len(),
        page,
        |i| match kind {
            Some(_) => ctx.post(posts[i], &fields),
            None => ctx.media(posts[i], &fields),
        },
        |cursor, value| ctx.links.same(this, request, cursor, value),
    )?;
    Ok(Value::Object(out))
}

/// `/{object-id}/comments` (FB: `filter`, `order`, `summary` [M11]; IG [IG2]) and IG
/// `/{comment-id}/replies`.
fn list_comments(
    ctx: &Ctx<'_>,
    request: &Request,
    this: &str,
    post: &Post,
    parent: Option<&Comment>,
) -> Result<Value, GraphError> {
    let options = ctx.comment_options(
        parent.is_some(),
        request.param("filter"),
        request.param("order"),
    )?;
    let list = ctx.comment_list(post, parent, options);
    let node = if ctx.channel == Channel::Instagram {
        Node::InstagramComment
    } else {
        Node::Comment
    };
    let fields = requested(request.param("fields"), node)?;
    let limit = limit_of(request.param("limit"), ctx.comment_limit(), "comments")?;
    let edge_name = this.rsplit('/').next().unwrap_or("comments");
    let object = parent.map_or(&post.id, |c| &c.id);
    let edge = Edge::new(ctx.dataset.seed(), edge_name, object);
    let page = page_request(
        &edge,
        limit,
        request.param("after"),
        request.param("before"),
    )?;
    let mut out = ctx.page(
        &edge,
        list.len(),
        page,
        |i| ctx.comment(post, list[i], &fields),
        |cursor, value| ctx.links.same(this, request, cursor, value),
    )?;
    if matches!(request.param("summary"), Some("true" | "1"))
        && let Some(summary) = ctx.comment_summary(options, list.len())
    {
        out.insert("summary".into(), summary);
    }
    Ok(Value::Object(out))
}

/// A `since`/`until` value: Unix seconds or an ISO 8601 date or time.
fn time_param(request: &Request, name: &str) -> Result<Option<i64>, GraphError> {
    let Some(raw) = request.param(name) else {
        return Ok(None);
    };
    if let Ok(secs) = raw.parse::<i64>() {
        return Ok(Some(secs));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.timestamp()));
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%z") {
        return Ok(Some(t.timestamp()));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(Some(
            day.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp(),
        ));
    }
    Err(GraphError::param(format!(
        "(#100) The parameter {name} is not a valid time: \"{raw}\""
    )))
}

#[cfg(test)]
mod tests {
    use super::render::graph_time;

    #[test]
    fn graph_times_carry_a_numeric_offset() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-03-02T10:15:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(graph_time(t), "2025-03-02T10:15:00+0000");
    }
}
