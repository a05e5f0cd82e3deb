//! The planner: pure functions from (policy, run context, step, fetched page) to a
//! [`Plan`] — the items to keep, the follow-up steps, and whether the walk ended.
//!
//! Every listing is walked newest first, as the channels list it. A walk carries its
//! counters in the step ([`crate::step`]), so planning one page needs nothing but that
//! page: no database look-ups, no clock (time is in [`RunContext`]).
//!
//! The rules cited here are those of `REQUIREMENTS.md`, read as `POLICIES.md` says.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::PolicyError;
use crate::model::{Comment, Conversation, Cursor, FollowerStatus, Message, Page, Post};
use crate::preset::{ChannelPolicy, CommentScope, Policy};
use crate::step::{
    CommentWalk, ConversationWalk, FollowerCheck, ListingMode, MessageWalk, PostWalk, Priority,
    StepKind, StepSpec,
};

/// What the planner needs to know about the run a step belongs to.
#[derive(Debug, Clone, Copy)]
pub struct RunContext<'a> {
    pub policy: &'a Policy,
    pub channel: Channel,
    /// `T`: the moment of connecting, from which look-back windows are measured.
    pub connected_at: DateTime<Utc>,
    /// The policy clock's now: when this step runs. Decides peak deferral and H8.
    pub now: DateTime<Utc>,
}

impl<'a> RunContext<'a> {
    pub fn new(
        policy: &'a Policy,
        channel: Channel,
        connected_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, PolicyError> {
        policy.channel(channel)?;
        Ok(Self {
            policy,
            channel,
            connected_at,
            now,
        })
    }

    fn rules(&self) -> &'a ChannelPolicy {
        // `new` checked the channel is covered; a context is only built through it or
        // by callers that did the same check.
        self.policy
            .channel(self.channel)
            .expect("RunContext for a covered channel")
    }

    /// When a step of `priority`, due at `due`, may run: backlog steps that fall due in
    /// peak hours wait for the end of peak plus a jitter spread by step (S3).
    pub fn schedule(&self, priority: Priority, due: DateTime<Utc>, key: &str) -> DateTime<Utc> {
        match (&self.policy.peak, priority) {
            (Some(peak), Priority::Backlog) if peak.is_peak(self.policy.timezone, due) => {
                peak.next_off_peak(self.policy.timezone, due) + jitter(key, peak.jitter_secs)
            }
            _ => due,
        }
    }

    /// At execution: `Some(when)` if `step` must not run now because of peak hours (S3).
    pub fn defer_until(&self, step: &StepSpec) -> Option<DateTime<Utc>> {
        let at = self.schedule(step.priority, self.now, &step.key());
        (at > self.now).then_some(at)
    }
}

/// A deterministic spread in `[0, max_secs]` seconds derived from the step key (FNV-1a),
/// so the planner stays pure and a re-planned step gets the same time.
fn jitter(key: &str, max_secs: u32) -> Duration {
    if max_secs == 0 {
        return Duration::zero();
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Duration::seconds((hash % (u64::from(max_secs) + 1)) as i64)
}

/// One page the channel returned, normalized by a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fetched", content = "page", rename_all = "snake_case")]
pub enum Fetched {
    Conversations(Page<Conversation>),
    Messages(Page<Message>),
    Follower(FollowerStatus),
    Posts(Page<Post>),
    Comments(Page<Comment>),
}

impl Fetched {
    fn name(&self) -> &'static str {
        match self {
            Self::Conversations(_) => "conversations",
            Self::Messages(_) => "messages",
            Self::Follower(_) => "follower status",
            Self::Posts(_) => "posts",
            Self::Comments(_) => "comments",
        }
    }
}

/// A conversation the policy keeps, with where it ranks and which class it is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptConversation {
    /// Without `embedded_messages`: those move to [`Plan::messages`].
    pub conversation: Conversation,
    /// Position in the channel's list, newest first, from 0.
    pub rank: u32,
    pub priority: Priority,
}

/// Where a conversation listing stopped because of a cap, so that a Zalo "load more"
/// can continue it (H6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The page to ask for; `None` for the first.
    pub cursor: Option<Cursor>,
    /// Items at the start of that page already kept.
    pub skip: u32,
    /// Conversations listed before the first one not yet kept.
    pub seen: u32,
}

/// The planner's answer for one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub conversations: Vec<KeptConversation>,
    pub messages: Vec<Message>,
    pub posts: Vec<Post>,
    pub comments: Vec<Comment>,
    pub follow_ups: Vec<StepSpec>,
    /// The walk this step belongs to has ended: no follow-up continues it.
    pub walk_ended: bool,
    /// Set when a conversation listing stopped on a cap while the channel had more.
    pub resume: Option<Resume>,
    /// Kept messages that are unavailable placeholders (Instagram detail depth).
    pub unavailable: u32,
}

/// Why a page could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("step {step} cannot be planned with a page of {fetched}")]
    Mismatch {
        step: &'static str,
        fetched: &'static str,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The steps a connect starts (C1): the conversation list and, where the policy syncs
/// comments, the post list.
pub fn first_steps(ctx: &RunContext<'_>) -> Vec<StepSpec> {
    let rules = ctx.rules();
    let walk = ConversationWalk {
        mode: ListingMode::Initial,
        seen: 0,
        skip: 0,
        round1: 0,
        round2: 0,
        in_round2: false,
        page: 0,
    };
    let mut steps = vec![listing_step(ctx, walk, None)];
    if rules.comments.is_some() {
        let walk = PostWalk {
            seen: 0,
            kept: 0,
            queued: Vec::new(),
            page: 0,
        };
        steps.push(post_step(ctx, walk, None));
    }
    steps
}

/// Plans one fetched page of `step`.
pub fn plan(ctx: &RunContext<'_>, step: &StepSpec, fetched: Fetched) -> Result<Plan, PlanError> {
    match (&step.kind, fetched) {
        (StepKind::ListConversations(walk), Fetched::Conversations(page)) => {
            Ok(plan_conversations(ctx, step, walk, page))
        }
        (StepKind::FetchMessages(walk), Fetched::Messages(page)) => {
            let mut plan = Plan::default();
            plan_messages(ctx, walk.clone(), page, &mut plan);
            Ok(plan)
        }
        (StepKind::CheckFollower(check), Fetched::Follower(status)) => {
            Ok(plan_follower(ctx, check, &status))
        }
        (StepKind::ListPosts(walk), Fetched::Posts(page)) => Ok(plan_posts(ctx, walk, page)),
        (StepKind::FetchComments(walk), Fetched::Comments(page)) => {
            Ok(plan_comments(ctx, walk, page))
        }
        (kind, fetched) => Err(PlanError::Mismatch {
            step: kind.name(),
            fetched: fetched.name(),
        }),
    }
}

/// H6: a Zalo "load more" request, given how many conversations the account has synced
/// and where the last listing stopped. Refused past the ceiling with the reason.
pub fn load_more(
    ctx: &RunContext<'_>,
    synced: u32,
    resume: &Resume,
) -> Result<StepSpec, PolicyError> {
    let rule = ctx.rules().load_more.ok_or_else(|| {
        PolicyError::NotApplicable(format!(
            "load more is not part of the {} policy for {}",
            ctx.policy.preset, ctx.channel
        ))
    })?;
    let room = rule.total_at_most.saturating_sub(synced);
    if room == 0 {
        return Err(PolicyError::LoadMoreLimit {
            synced,
            limit: rule.total_at_most,
        });
    }
    let walk = ConversationWalk {
        mode: ListingMode::LoadMore {
            cap: rule.batch.min(room),
        },
        seen: resume.seen,
        skip: resume.skip,
        round1: 0,
        round2: 0,
        in_round2: false,
        page: 0,
    };
    Ok(listing_step(ctx, walk, resume.cursor.clone()))
}

/// H8: a customer whose conversation was not synced writes in. The conversation and the
/// new message are kept at once; a message walk then decides from the conversation's
/// previous activity whether older messages come too.
pub fn late_arrival(
    ctx: &RunContext<'_>,
    conversation: Conversation,
    message: Message,
) -> Result<Plan, PolicyError> {
    ctx.rules().late_arrival.ok_or_else(|| {
        PolicyError::NotApplicable(format!(
            "late arrival is not part of the {} policy for {}",
            ctx.policy.preset, ctx.channel
        ))
    })?;
    let walk = MessageWalk {
        conversation_id: conversation.id.clone(),
        slice_conversation: true,
        seen: 0,
        kept: 0,
        cap: None,
        late_arrival_at: Some(message.created_at),
        page: 0,
    };
    let follow_up = message_step(ctx, walk, None);
    Ok(Plan {
        conversations: vec![KeptConversation {
            conversation: Conversation {
                embedded_messages: None,
                ..conversation
            },
            rank: 0,
            priority: Priority::Slice,
        }],
        messages: vec![message],
        follow_ups: vec![follow_up],
        ..Plan::default()
    })
}

fn plan_conversations(
    ctx: &RunContext<'_>,
    step: &StepSpec,
    walk: &ConversationWalk,
    page: Page<Conversation>,
) -> Plan {
    let rules = ctx.rules();
    let conv_rule = &rules.conversations;
    let window_start = conv_rule.lookback.map(|p| p.before(ctx.connected_at));
    let mut walk = walk.clone();
    let mut plan = Plan::default();
    let mut ended = false;
    let mut stopped_on_cap_at = None;
    let page_len = page.items.len();
    let skip = walk.skip as usize;
    walk.skip = 0;

    for (index, mut conversation) in page.items.into_iter().enumerate().skip(skip) {
        let rank = walk.seen;
        walk.seen += 1;
        let Some(round) = admit(conv_rule, window_start, &mut walk, &conversation) else {
            ended = true;
            break;
        };
        let in_slice = round == 1
            && matches!(walk.mode, ListingMode::Initial)
            && rules.slice.conversations.is_none_or(|n| rank < n);
        let priority = if in_slice || matches!(walk.mode, ListingMode::LoadMore { .. }) {
            Priority::Slice
        } else {
            Priority::Backlog
        };
        let embedded = conversation.embedded_messages.take();
        start_messages(
            ctx,
            &conversation.id,
            in_slice || priority == Priority::Slice,
            embedded,
            &mut plan,
        );
        plan.conversations.push(KeptConversation {
            conversation,
            rank,
            priority,
        });
        if walk_is_full(conv_rule, &mut walk) {
            ended = true;
            stopped_on_cap_at = Some(index + 1);
            break;
        }
    }

    if let Some(next_index) = stopped_on_cap_at {
        plan.resume = if next_index < page_len {
            Some(Resume {
                cursor: step.cursor.clone(),
                skip: next_index as u32,
                seen: walk.seen,
            })
        } else {
            page.next.clone().map(|cursor| Resume {
                cursor: Some(cursor),
                skip: 0,
                seen: walk.seen,
            })
        };
    }
    match page.next {
        Some(next) if !ended => {
            walk.page += 1;
            plan.follow_ups.push(listing_step(ctx, walk, Some(next)));
        }
        _ => plan.walk_ended = true,
    }
    plan
}

/// Whether the walk keeps `conversation`, and in which round; `None` ends the walk.
fn admit(
    rule: &crate::preset::ConversationRule,
    window_start: Option<DateTime<Utc>>,
    walk: &mut ConversationWalk,
    conversation: &Conversation,
) -> Option<u8> {
    if let ListingMode::LoadMore { .. } = walk.mode {
        walk.round1 += 1;
        return Some(1);
    }
    if !walk.in_round2 {
        let in_window = window_start.is_none_or(|start| conversation.last_activity >= start);
        if in_window {
            walk.round1 += 1;
            return Some(1);
        }
        // Round 1 ended on the first conversation outside the window (S2, H1).
        if !start_round2(rule, walk) {
            return None;
        }
    }
    walk.round2 += 1;
    Some(2)
}

/// H2: round 2 starts only if round 1 kept fewer than the threshold.
fn start_round2(rule: &crate::preset::ConversationRule, walk: &mut ConversationWalk) -> bool {
    match rule.top_up {
        Some(top_up) if walk.round1 < top_up.if_fewer_than && round2_limit(rule, walk) > 0 => {
            walk.in_round2 = true;
            true
        }
        _ => false,
    }
}

/// H2: at most `at_most` more, and rounds 1 and 2 together at most `total_at_most`.
fn round2_limit(rule: &crate::preset::ConversationRule, walk: &ConversationWalk) -> u32 {
    rule.top_up.map_or(0, |t| {
        t.at_most.min(t.total_at_most.saturating_sub(walk.round1))
    })
}

/// Whether the walk has kept all it may (after keeping one more). Moves to round 2 when
/// round 1 is full and the top-up applies.
fn walk_is_full(rule: &crate::preset::ConversationRule, walk: &mut ConversationWalk) -> bool {
    if let ListingMode::LoadMore { cap } = walk.mode {
        return walk.round1 >= cap;
    }
    if walk.in_round2 {
        return walk.round2 >= round2_limit(rule, walk);
    }
    match rule.max {
        Some(max) if walk.round1 >= max => !start_round2(rule, walk),
        _ => false,
    }
}

/// How many conversations the next listing page should ask for: up to the next cap or
/// the slice boundary, whichever comes first, so no page fetches what is thrown away.
fn listing_want(ctx: &RunContext<'_>, walk: &ConversationWalk) -> Option<u32> {
    let rules = ctx.rules();
    let rule = &rules.conversations;
    let room = match walk.mode {
        ListingMode::LoadMore { cap } => Some(cap - walk.round1.min(cap)),
        ListingMode::Initial if walk.in_round2 => Some(round2_limit(rule, walk) - walk.round2),
        ListingMode::Initial => rule.max.map(|m| m.saturating_sub(walk.round1)),
    };
    let to_slice_edge = match walk.mode {
        ListingMode::Initial if !walk.in_round2 => rules
            .slice
            .conversations
            .and_then(|n| n.checked_sub(walk.seen))
            .filter(|left| *left > 0),
        _ => None,
    };
    min_some(room.map(|r| r.max(1)), to_slice_edge)
}

fn listing_step(ctx: &RunContext<'_>, walk: ConversationWalk, cursor: Option<Cursor>) -> StepSpec {
    let rules = ctx.rules();
    let slice_edge = rules.slice.conversations;
    let priority = match walk.mode {
        ListingMode::LoadMore { .. } => Priority::Slice,
        ListingMode::Initial if !walk.in_round2 && slice_edge.is_none_or(|n| walk.seen < n) => {
            Priority::Slice
        }
        ListingMode::Initial => Priority::Backlog,
    };
    // Nested messages: as many as the slice shows first, within the conversation cap.
    let nested_want = min_some(
        rules.messages.max_per_conversation,
        rules.slice.messages_per_conversation,
    );
    let want = listing_want(ctx, &walk);
    finish_step(
        ctx,
        StepKind::ListConversations(walk),
        cursor,
        priority,
        want,
        nested_want,
    )
}

/// Starts the message walk of a newly kept conversation: plans the embedded first page
/// if the listing carried one, else creates the first fetch (or the Zalo follower check
/// that decides the cap, H5).
fn start_messages(
    ctx: &RunContext<'_>,
    conversation_id: &str,
    slice_conversation: bool,
    embedded: Option<Page<Message>>,
    plan: &mut Plan,
) {
    let rules = ctx.rules();
    if rules.messages.max_for_non_follower.is_some() {
        let check = FollowerCheck {
            user_id: conversation_id.to_owned(),
            slice_conversation,
        };
        let priority = class_of(slice_conversation);
        plan.follow_ups.push(finish_step(
            ctx,
            StepKind::CheckFollower(check),
            None,
            priority,
            None,
            None,
        ));
        return;
    }
    let walk = MessageWalk {
        conversation_id: conversation_id.to_owned(),
        slice_conversation,
        seen: 0,
        kept: 0,
        cap: rules.messages.max_per_conversation,
        late_arrival_at: None,
        page: 0,
    };
    match embedded {
        Some(page) => plan_messages(ctx, walk, page, plan),
        None => plan.follow_ups.push(message_step(ctx, walk, None)),
    }
}

fn plan_follower(ctx: &RunContext<'_>, check: &FollowerCheck, status: &FollowerStatus) -> Plan {
    let rules = &ctx.rules().messages;
    // H5: a customer who unfollowed gets at most `max_for_non_follower` messages.
    let cap = if status.follower {
        rules.max_per_conversation
    } else {
        rules.max_for_non_follower
    };
    let walk = MessageWalk {
        conversation_id: check.user_id.clone(),
        slice_conversation: check.slice_conversation,
        seen: 0,
        kept: 0,
        cap,
        late_arrival_at: None,
        page: 0,
    };
    Plan {
        follow_ups: vec![message_step(ctx, walk, None)],
        walk_ended: true,
        ..Plan::default()
    }
}

/// Walks one page of a conversation's messages, newest first, into `plan`.
fn plan_messages(
    ctx: &RunContext<'_>,
    mut walk: MessageWalk,
    page: Page<Message>,
    plan: &mut Plan,
) {
    let rules = ctx.rules();
    let window_start = rules.messages.lookback.map(|p| p.before(ctx.connected_at));
    if let (Some(arrived_at), 0) = (walk.late_arrival_at, walk.seen) {
        walk.cap = Some(late_arrival_cap(ctx, arrived_at, &page));
    }
    let mut ended = false;
    for message in page.items {
        if walk.cap.is_some_and(|cap| walk.kept >= cap) {
            ended = true;
            break;
        }
        walk.seen += 1;
        // S2: the first message older than the window ends the walk (newest first).
        if window_start.is_some_and(|start| message.created_at < start) {
            ended = true;
            break;
        }
        walk.kept += 1;
        plan.unavailable += u32::from(message.unavailable);
        plan.messages.push(message);
    }
    if walk.cap.is_some_and(|cap| walk.kept >= cap) {
        ended = true;
    }
    match page.next {
        Some(next) if !ended => {
            walk.page += 1;
            plan.follow_ups.push(message_step(ctx, walk, Some(next)));
        }
        _ => plan.walk_ended = true,
    }
}

/// H8: one message (the new one) plus up to `messages` older ones if the conversation's
/// previous activity is within the window before now.
fn late_arrival_cap(ctx: &RunContext<'_>, arrived_at: DateTime<Utc>, page: &Page<Message>) -> u32 {
    let Some(rule) = ctx.rules().late_arrival else {
        return 1;
    };
    let previous = page
        .items
        .iter()
        .map(|m| m.created_at)
        .find(|t| *t < arrived_at);
    match previous {
        Some(t) if t >= rule.window.before(ctx.now) => rule.messages + 1,
        _ => 1,
    }
}

fn message_step(ctx: &RunContext<'_>, walk: MessageWalk, cursor: Option<Cursor>) -> StepSpec {
    let slice_messages = ctx.rules().slice.messages_per_conversation;
    let in_slice = walk.slice_conversation && slice_messages.is_none_or(|n| walk.kept < n);
    let to_slice_edge = if in_slice {
        slice_messages.map(|n| n - walk.kept)
    } else {
        None
    };
    let want = min_some(
        walk.cap.map(|c| c.saturating_sub(walk.kept).max(1)),
        to_slice_edge,
    );
    finish_step(
        ctx,
        StepKind::FetchMessages(walk),
        cursor,
        class_of(in_slice),
        want,
        None,
    )
}

fn plan_posts(ctx: &RunContext<'_>, walk: &PostWalk, page: Page<Post>) -> Plan {
    let rule = ctx
        .rules()
        .comments
        .as_ref()
        .expect("post steps exist only with a comment rule");
    let window_start = rule.lookback.map(|p| p.before(ctx.connected_at));
    let mut walk = walk.clone();
    let mut plan = Plan::default();
    let mut ended = false;
    let mut kept_here = Vec::new();
    for post in page.items {
        if rule.max_posts.is_some_and(|max| walk.kept >= max)
            || window_start.is_some_and(|start| post.created_at < start)
        {
            ended = true;
            break;
        }
        walk.seen += 1;
        walk.kept += 1;
        kept_here.push(post.id.clone());
        plan.posts.push(post);
    }
    if rule.max_posts.is_some_and(|max| walk.kept >= max) {
        ended = true;
    }
    let continues = page.next.filter(|_| !ended);

    match rule.scope {
        CommentScope::PerPost => {
            for post_id in kept_here {
                plan.follow_ups
                    .push(comment_step(ctx, post_id, rule.max_comments, Vec::new()));
            }
        }
        CommentScope::AcrossPosts => {
            // Posts are walked one after another, spending one budget; the post listing
            // finishes first so the comment walk knows every post it may continue with.
            walk.queued.extend(kept_here);
            if continues.is_none() && !walk.queued.is_empty() {
                let mut queue = std::mem::take(&mut walk.queued);
                let first = queue.remove(0);
                plan.follow_ups
                    .push(comment_step(ctx, first, rule.max_comments, queue));
            }
        }
    }
    match continues {
        Some(next) => {
            walk.page += 1;
            plan.follow_ups.push(post_step(ctx, walk, Some(next)));
        }
        None => plan.walk_ended = true,
    }
    plan
}

fn post_step(ctx: &RunContext<'_>, walk: PostWalk, cursor: Option<Cursor>) -> StepSpec {
    let rule = ctx.rules().comments.as_ref();
    let want = rule
        .and_then(|r| r.max_posts)
        .map(|m| m.saturating_sub(walk.kept).max(1));
    // All post and comment steps are backlog (POLICIES.md, shopline slice).
    finish_step(
        ctx,
        StepKind::ListPosts(walk),
        cursor,
        Priority::Backlog,
        want,
        None,
    )
}

fn plan_comments(ctx: &RunContext<'_>, walk: &CommentWalk, page: Page<Comment>) -> Plan {
    let rule = ctx
        .rules()
        .comments
        .as_ref()
        .expect("comment steps exist only with a comment rule");
    let window_start = rule.lookback.map(|p| p.before(ctx.connected_at));
    let mut walk = walk.clone();
    let mut plan = Plan::default();
    let mut ended = false;
    for comment in page.items {
        if walk.budget == Some(0) || window_start.is_some_and(|start| comment.created_at < start) {
            ended = true;
            break;
        }
        walk.seen += 1;
        walk.kept += 1;
        walk.budget = walk.budget.map(|b| b - 1);
        plan.comments.push(comment);
    }
    if walk.budget == Some(0) {
        ended = true;
    }
    match page.next {
        Some(next) if !ended => {
            walk.page += 1;
            let want = walk.budget;
            let step = finish_step(
                ctx,
                StepKind::FetchComments(walk),
                Some(next),
                Priority::Backlog,
                want,
                None,
            );
            plan.follow_ups.push(step);
        }
        _ => {
            plan.walk_ended = true;
            // across_posts: continue with the next post while budget is left.
            if walk.budget != Some(0) && !walk.next_posts.is_empty() {
                let mut queue = walk.next_posts;
                let next_post = queue.remove(0);
                plan.follow_ups
                    .push(comment_step(ctx, next_post, walk.budget, queue));
            }
        }
    }
    plan
}

fn comment_step(
    ctx: &RunContext<'_>,
    post_id: String,
    budget: Option<u32>,
    next_posts: Vec<String>,
) -> StepSpec {
    let walk = CommentWalk {
        post_id,
        seen: 0,
        kept: 0,
        budget,
        next_posts,
        page: 0,
    };
    finish_step(
        ctx,
        StepKind::FetchComments(walk),
        None,
        Priority::Backlog,
        budget,
        None,
    )
}

fn finish_step(
    ctx: &RunContext<'_>,
    kind: StepKind,
    cursor: Option<Cursor>,
    priority: Priority,
    want: Option<u32>,
    nested_want: Option<u32>,
) -> StepSpec {
    let mut step = StepSpec {
        kind,
        cursor,
        priority,
        not_before: ctx.now,
        want,
        nested_want,
    };
    step.not_before = ctx.schedule(priority, ctx.now, &step.key());
    step
}

fn class_of(in_slice: bool) -> Priority {
    if in_slice {
        Priority::Slice
    } else {
        Priority::Backlog
    }
}

fn min_some(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
