//! Graph API (Facebook Pages and Instagram): listings, fields and errors, over real HTTP.
//! Point numbers refer to section 6 of `channel-apis.md`.

mod common;

use std::collections::HashSet;

use backfill_sim::dataset::{Folder, MessageKind};
use backfill_sim::{Channel, Permission, RevokeReason};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn walking_a_pages_conversations_by_next_visits_every_listed_conversation_once_newest_first()
{
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let url = format!(
        "{}/v21.0/{}/conversations?platform=messenger&fields=id,updated_time,participants&limit=4&access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let (items, _) = walk_graph(&client(), &url).await;

    let expected: Vec<String> = page.listed_conversations().map(|c| c.id.clone()).collect();
    assert_eq!(ids(&items), expected);
    // Point 2: the idle Requests-folder thread is in the data but never listed.
    assert!(
        page.conversations
            .iter()
            .any(|c| c.folder == Folder::Pending && !c.listed)
    );
    assert!(expected.len() < page.conversations.len());
    let times: Vec<&str> = items
        .iter()
        .map(|i| i["updated_time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "newest first: {times:?}"
    );
    assert!(times[0].ends_with("+0000"));
    let participants = &items[0]["participants"]["data"];
    assert_eq!(
        participants[0]["id"],
        page.conversations[0].customer.id.as_str()
    );
    assert_eq!(participants[1]["id"], page.id.as_str());
}

#[tokio::test]
async fn conversations_accept_folder_user_id_and_platform_and_ignore_since() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let base = format!(
        "{}/v19.0/{}/conversations?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();

    let pending = get_ok(&client, &format!("{base}&folder=pending&limit=50")).await;
    let listed_pending: Vec<String> = page
        .listed_conversations()
        .filter(|c| c.folder == Folder::Pending)
        .map(|c| c.id.clone())
        .collect();
    assert!(!listed_pending.is_empty());
    assert_eq!(ids(pending["data"].as_array().unwrap()), listed_pending);

    let customer = &page.conversations[3].customer.id;
    let one = get_ok(
        &client,
        &format!("{base}&platform=MESSENGER&user_id={customer}"),
    )
    .await;
    assert_eq!(
        ids(one["data"].as_array().unwrap()),
        [page.conversations[3].id.clone()]
    );

    let other_platform = get_ok(&client, &format!("{base}&platform=instagram")).await;
    assert_eq!(other_platform["data"], serde_json::json!([]));
    let (status, _, bad) = get(&client, &format!("{base}&platform=whatsapp")).await;
    assert_eq!((status, graph_error(&bad).0), (400, 100));

    // Point 2: no time paging on conversations; `since` changes nothing.
    let all = get_ok(&client, &format!("{base}&limit=50")).await;
    let since = get_ok(&client, &format!("{base}&limit=50&since=2025-10-01")).await;
    assert_eq!(all["data"], since["data"]);
}

#[tokio::test]
async fn walking_a_conversations_messages_returns_them_all_newest_first_with_their_content() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let conversation = page
        .conversations
        .iter()
        .find(|c| c.message_count > 100)
        .unwrap();
    let url = format!(
        "{}/v21.0/{}/messages?fields=id,created_time,from,to,message,attachments,sticker,is_unsupported&limit=25&access_token={}",
        sim.base_url(Channel::Facebook),
        conversation.id,
        page.access_token
    );
    let (items, _) = walk_graph(&client(), &url).await;

    let expected: Vec<_> = conversation.messages().collect();
    assert_eq!(items.len(), expected.len());
    for (item, message) in items.iter().zip(&expected) {
        assert_eq!(item["id"], message.id.as_str());
        assert_eq!(
            item["created_time"],
            message
                .created_at
                .format("%Y-%m-%dT%H:%M:%S+0000")
                .to_string()
                .as_str()
        );
        assert_eq!(
            item["message"],
            message.text.clone().unwrap_or_default().as_str()
        );
        assert_eq!(
            item.get("attachments").is_some(),
            !message.attachments.is_empty() || matches!(message.kind, MessageKind::Sticker { .. })
        );
        // Point 4: `is_unsupported` only when true.
        match item.get("is_unsupported") {
            Some(flag) => assert_eq!(
                (flag, &message.kind),
                (&Value::Bool(true), &MessageKind::Unsupported)
            ),
            None => assert_ne!(message.kind, MessageKind::Unsupported),
        }
    }
    assert!(
        items
            .iter()
            .any(|i| i["attachments"]["data"][0]["image_data"]["url"].is_string())
    );
}

#[tokio::test]
async fn a_conversation_node_expands_messages_whose_next_link_continues_on_the_messages_edge() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let conversation = page
        .conversations
        .iter()
        .find(|c| c.message_count > 100)
        .unwrap();
    let url = format!(
        "{}/v21.0/{}?fields=messages.limit(40){{id,message}},participants&access_token={}",
        sim.base_url(Channel::Facebook),
        conversation.id,
        page.access_token
    );
    let node = get_ok(&client(), &url).await;
    let first = node["messages"]["data"].as_array().unwrap().clone();
    assert!(!first.is_empty() && first.len() <= 40);
    let next = node["messages"]["paging"]["next"].as_str().unwrap();
    assert!(next.contains(&format!("/{}/messages?", conversation.id)));
    // Like Graph's, the link carries the token: a client must never log it.
    assert!(next.contains(&page.access_token));
    let (rest, _) = walk_graph(&client(), next).await;
    let all: Vec<String> = ids(&first).into_iter().chain(ids(&rest)).collect();
    assert_eq!(
        all,
        conversation.messages().map(|m| m.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_empty_page_still_carries_next_and_following_it_loses_nothing() {
    let mut settings = relaxed();
    settings.graph.empty_page_rate = 1.0;
    let sim = start(settings).await;
    let page = account(&sim, Channel::Facebook, 0);
    let conversation = page
        .conversations
        .iter()
        .find(|c| c.message_count > 100)
        .unwrap();
    let url = format!(
        "{}/v21.0/{}/messages?limit=50&access_token={}",
        sim.base_url(Channel::Facebook),
        conversation.id,
        page.access_token
    );
    let (items, empty_pages) = walk_graph(&client(), &url).await;
    // Point 1: every page after the first came back empty once, yet with `next`.
    assert!(empty_pages >= 2, "{empty_pages}");
    assert_eq!(
        ids(&items),
        conversation.messages().map(|m| m.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn fields_are_sparse_and_only_what_was_asked_is_returned() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let base = format!(
        "{}/v21.0/{}/conversations?limit=50&access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();

    let bare = get_ok(&client, &base).await;
    let keys: HashSet<&str> = bare["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from(["id", "updated_time"]),
        "default fields [M1]"
    );

    let only_id = get_ok(&client, &format!("{base}&fields=id")).await;
    assert_eq!(only_id["data"][0].as_object().unwrap().len(), 1);

    let counted = get_ok(
        &client,
        &format!("{base}&fields=id,unread_count,message_count"),
    )
    .await;
    for (item, conversation) in counted["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(page.listed_conversations())
    {
        assert_eq!(item["message_count"], conversation.message_count);
        // Point 4: no `unread_count` key when there is nothing unread.
        match conversation.unread_count {
            0 => assert!(item.get("unread_count").is_none(), "{item}"),
            n => assert_eq!(item["unread_count"], n),
        }
    }
    assert!(page.listed_conversations().any(|c| c.unread_count == 0));

    let (status, _, body) = get(&client, &format!("{base}&fields=id,referral")).await;
    assert_eq!(
        (status, graph_error(&body)),
        (400, (100, None)),
        "referral is a webhook field only (point 8)"
    );
}

#[tokio::test]
async fn instagram_gives_details_only_for_the_twenty_newest_messages() {
    let sim = start(relaxed()).await;
    let ig = account(&sim, Channel::Instagram, 0);
    let conversation = ig
        .conversations
        .iter()
        .find(|c| c.message_count > 20)
        .unwrap();
    let base = sim.base_url(Channel::Instagram);
    let client = client();
    let url = format!(
        "{base}/v23.0/{}/messages?fields=id,created_time,from,message&limit=100&access_token={}",
        conversation.id, ig.access_token
    );
    let (items, _) = walk_graph(&client, &url).await;
    assert_eq!(items.len() as u32, conversation.message_count);
    for (rank, item) in items.iter().enumerate() {
        assert_eq!(item.get("from").is_some(), rank < 20, "rank {rank}: {item}");
        assert!(item["created_time"].is_string());
    }
    assert!(
        items[0]["from"]["username"].is_string(),
        "IG people carry a username"
    );

    // Point 3: detail of an older message fails "message deleted"-style.
    let old = conversation.message_by_rank(20).unwrap();
    let (status, _, body) = get(
        &client,
        &format!(
            "{base}/v23.0/{}?fields=id,message&access_token={}",
            old.id, ig.access_token
        ),
    )
    .await;
    assert_eq!((status, graph_error(&body)), (400, (100, Some(33))));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deleted")
    );
    let recent = conversation.message_by_rank(19).unwrap();
    let detail = get_ok(
        &client,
        &format!(
            "{base}/v23.0/{}?fields=id,message,from&access_token={}",
            recent.id, ig.access_token
        ),
    )
    .await;
    assert_eq!(detail["id"], recent.id.as_str());
}

#[tokio::test]
async fn facebook_detail_depth_is_off_by_default_and_can_be_turned_on() {
    let client = client();
    for (depth, expected_status) in [(None, 200), (Some(20), 400)] {
        let mut settings = relaxed();
        settings.graph.facebook_detail_depth = depth;
        let sim = start(settings).await;
        let page = account(&sim, Channel::Facebook, 0);
        let conversation = page
            .conversations
            .iter()
            .find(|c| c.message_count > 100)
            .unwrap();
        let old = conversation.message_by_rank(60).unwrap();
        let url = format!(
            "{}/v21.0/{}?fields=message&access_token={}",
            sim.base_url(Channel::Facebook),
            old.id,
            page.access_token
        );
        let (status, _, _) = get(&client, &url).await;
        assert_eq!(status, expected_status, "depth {depth:?}");
    }
}

#[tokio::test]
async fn the_feed_refuses_a_limit_above_100_while_conversations_cap_it() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let fb = sim.base_url(Channel::Facebook);
    let client = client();
    let (status, _, body) = get(
        &client,
        &format!(
            "{fb}/v21.0/{}/feed?limit=101&access_token={}",
            page.id, page.access_token
        ),
    )
    .await;
    assert_eq!((status, graph_error(&body).0), (400, 100), "point 5");
    let ok = get_ok(
        &client,
        &format!(
            "{fb}/v21.0/{}/feed?limit=100&access_token={}",
            page.id, page.access_token
        ),
    )
    .await;
    assert!(ok["data"].is_array());
    let capped = get_ok(
        &client,
        &format!(
            "{fb}/v21.0/{}/conversations?limit=5000&access_token={}",
            page.id, page.access_token
        ),
    )
    .await;
    assert!(capped["data"].as_array().unwrap().len() <= 200);
}

#[tokio::test]
async fn an_expansion_that_asks_too_much_answers_code_1() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let base = format!(
        "{}/v21.0/{}/conversations?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();
    let (status, _, body) = get(
        &client,
        &format!("{base}&limit=100&fields=participants,messages.limit(100){{id,message}}"),
    )
    .await;
    assert_eq!(graph_error(&body), (1, None));
    assert_eq!(status, 500);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Please reduce the amount of data")
    );
    let fine = get_ok(
        &client,
        &format!("{base}&limit=25&fields=participants,messages.limit(50){{id,message}}"),
    )
    .await;
    assert!(fine["data"][0]["messages"]["data"].is_array());
}

#[tokio::test]
async fn feed_posts_and_comments_walk_completely_with_filter_order_and_summary() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let fb = sim.base_url(Channel::Facebook);
    let token = &page.access_token;
    let client = client();

    let (feed, _) = walk_graph(&client, &format!("{fb}/v21.0/{}/feed?fields=id,created_time,message,from,is_published&limit=2&access_token={token}", page.id)).await;
    assert_eq!(
        ids(&feed),
        page.posts.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
    );
    let (own, _) = walk_graph(
        &client,
        &format!(
            "{fb}/v21.0/{}/published_posts?limit=2&access_token={token}",
            page.id
        ),
    )
    .await;
    let expected_own: Vec<String> = page
        .posts
        .iter()
        .filter(|p| p.by_account && p.is_published)
        .map(|p| p.id.clone())
        .collect();
    assert_eq!(ids(&own), expected_own);

    let post = page.posts.iter().max_by_key(|p| p.comments.len()).unwrap();
    assert!(
        post.comments.iter().any(|c| c.parent_id.is_some()),
        "the busiest post has replies"
    );
    let comments = |query: &str| {
        format!(
            "{fb}/v21.0/{}/comments?limit=7&{query}&access_token={token}",
            post.id
        )
    };

    let (top, _) = walk_graph(&client, &comments("")).await;
    assert_eq!(
        ids(&top),
        post.top_level_comments()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        "toplevel, chronological by default"
    );
    let (stream, _) =
        walk_graph(&client, &comments("filter=stream&fields=id,message,parent")).await;
    assert_eq!(
        ids(&stream),
        post.comments
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    );
    let reply = stream.iter().find(|c| c.get("parent").is_some()).unwrap();
    assert!(reply["parent"]["id"].is_string());
    let (reversed, _) = walk_graph(&client, &comments("order=reverse_chronological")).await;
    let mut newest_first = ids(&top);
    newest_first.reverse();
    assert_eq!(ids(&reversed), newest_first);

    let summary = get_ok(&client, &comments("filter=stream&summary=true")).await;
    assert_eq!(summary["summary"]["total_count"], post.comments.len());
    assert_eq!(summary["summary"]["order"], "chronological");

    let parent = post
        .top_level_comments()
        .find(|c| post.replies_to(&c.id).count() > 0)
        .unwrap();
    let (replies, _) = walk_graph(
        &client,
        &format!("{fb}/v21.0/{}/comments?access_token={token}", parent.id),
    )
    .await;
    assert_eq!(
        ids(&replies),
        post.replies_to(&parent.id)
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn instagram_conversations_media_and_comments_walk_completely() {
    let sim = start(relaxed()).await;
    let ig = account(&sim, Channel::Instagram, 0);
    let base = format!("{}/v23.0", sim.base_url(Channel::Instagram));
    let token = &ig.access_token;
    let client = client();

    let (mine, _) = walk_graph(
        &client,
        &format!("{base}/me/conversations?platform=instagram&limit=2&access_token={token}"),
    )
    .await;
    assert_eq!(
        ids(&mine),
        ig.listed_conversations()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    );
    let (by_id, _) = walk_graph(
        &client,
        &format!(
            "{base}/{}/conversations?platform=instagram&limit=3&access_token={token}",
            ig.id
        ),
    )
    .await;
    assert_eq!(ids(&by_id), ids(&mine));

    let (media, _) = walk_graph(
        &client,
        &format!(
            "{base}/{}/media?fields=id,caption,media_type,timestamp&limit=1&access_token={token}",
            ig.id
        ),
    )
    .await;
    assert_eq!(
        ids(&media),
        ig.posts.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
    );
    let newest = ig.posts[0].created_at.timestamp();
    let since = get_ok(
        &client,
        &format!("{base}/{}/media?since={newest}&access_token={token}", ig.id),
    )
    .await;
    assert_eq!(
        ids(since["data"].as_array().unwrap()),
        [ig.posts[0].id.clone()],
        "media supports since [IG3]"
    );

    // Point 5: at most 50 per page even when asked for 100, top-level only, newest first.
    let post = ig.posts.iter().max_by_key(|p| p.comments.len()).unwrap();
    let first = get_ok(
        &client,
        &format!(
            "{base}/{}/comments?limit=100&fields=id,text,timestamp,username&access_token={token}",
            post.id
        ),
    )
    .await;
    let first_len = first["data"].as_array().unwrap().len();
    assert!((1..=50).contains(&first_len), "{first_len}");
    let (comments, _) = walk_graph(
        &client,
        &format!("{base}/{}/comments?limit=100&access_token={token}", post.id),
    )
    .await;
    let mut expected: Vec<String> = post.top_level_comments().map(|c| c.id.clone()).collect();
    expected.reverse();
    assert!(expected.len() > 50);
    assert_eq!(ids(&comments), expected);
}

#[tokio::test]
async fn token_errors_use_code_190_with_the_subcode_of_the_cause() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 1);
    let fb = sim.base_url(Channel::Facebook);
    let client = client();
    let url = |token: &str| format!("{fb}/v21.0/{}/conversations?access_token={token}", page.id);

    let (status, headers, body) = get(&client, &url("EAABnot-a-token")).await;
    assert_eq!((status, graph_error(&body)), (400, (190, Some(467))));
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let (status, _, body) = get(&client, &format!("{fb}/v21.0/{}/conversations", page.id)).await;
    assert_eq!(
        (status, graph_error(&body).0),
        (400, 104),
        "no token at all"
    );

    let instagram_token = &account(&sim, Channel::Instagram, 0).access_token;
    let (_, _, body) = get(&client, &url(instagram_token)).await;
    assert_eq!(
        graph_error(&body),
        (190, Some(467)),
        "an Instagram token on graph.facebook.com"
    );

    for (reason, subcode) in [
        (RevokeReason::Expired, 463),
        (RevokeReason::PasswordChanged, 460),
        (RevokeReason::SessionInvalidated, 492),
    ] {
        let token = sim
            .issue_token(&page.id, std::time::SystemTime::now())
            .unwrap();
        assert_eq!(get(&client, &url(&token)).await.0, 200);
        sim.revoke_token(&token, reason).unwrap();
        let (_, _, body) = get(&client, &url(&token)).await;
        assert_eq!(graph_error(&body), (190, Some(subcode)), "{reason:?}");
    }

    // The token may also travel as a Bearer header.
    let response = client
        .get(format!("{fb}/v21.0/{}/conversations", page.id))
        .bearer_auth(&page.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn permission_and_parameter_errors_have_the_graph_envelope() {
    let sim = start(relaxed()).await;
    let (a, b) = (
        account(&sim, Channel::Facebook, 0),
        account(&sim, Channel::Facebook, 1),
    );
    let fb = sim.base_url(Channel::Facebook);
    let client = client();

    // Another Page's conversation, and a made-up id, look alike: 100/33.
    let foreign = &b.conversations[0].id;
    for id in [foreign.as_str(), "t_123"] {
        let (status, _, body) = get(
            &client,
            &format!("{fb}/v21.0/{id}/messages?access_token={}", a.access_token),
        )
        .await;
        assert_eq!((status, graph_error(&body)), (400, (100, Some(33))));
        assert_eq!(body["error"]["type"], "GraphMethodException");
    }

    let user_token = a.user_token.as_ref().unwrap();
    let (_, _, body) = get(
        &client,
        &format!(
            "{fb}/v21.0/{}/conversations?access_token={user_token}",
            a.id
        ),
    )
    .await;
    assert_eq!(graph_error(&body).0, 210, "conversations need a Page token");
    assert_eq!(
        get(
            &client,
            &format!("{fb}/v21.0/{}/feed?access_token={user_token}", a.id)
        )
        .await
        .0,
        200
    );

    let token = sim
        .issue_token(&a.id, std::time::SystemTime::now())
        .unwrap();
    sim.deny_permission(&token, Permission::PagesMessaging)
        .unwrap();
    sim.deny_permission(&token, Permission::PagesReadEngagement)
        .unwrap();
    let (status, _, body) = get(
        &client,
        &format!("{fb}/v21.0/{}/conversations?access_token={token}", a.id),
    )
    .await;
    assert_eq!((status, graph_error(&body).0), (403, 200));
    let (_, _, body) = get(
        &client,
        &format!("{fb}/v21.0/{}/feed?access_token={token}", a.id),
    )
    .await;
    assert_eq!(graph_error(&body).0, 10);

    let (_, _, body) = get(
        &client,
        &format!(
            "{fb}/v21.0/{}/conversations?fields=messages{{bogus}}&access_token={}",
            a.id, a.access_token
        ),
    )
    .await;
    assert_eq!(graph_error(&body).0, 100);
    let (_, _, body) = get(
        &client,
        &format!(
            "{fb}/v21.0/{}/conversations?after=not-a-cursor&access_token={}",
            a.id, a.access_token
        ),
    )
    .await;
    assert_eq!(graph_error(&body).0, 100);
}
