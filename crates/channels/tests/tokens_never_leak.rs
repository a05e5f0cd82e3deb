//! B4: access tokens and partner keys never appear in any outcome's `Debug` or
//! `Display`, not even when the channel echoes the request URL, the token or the
//! `paging.next` link back in its answer, and not in a transport error that names the
//! URL (Shopee's URL holds the token).

mod common;

use backfill_channels::{Account, Credentials, Outcome};
use backfill_policy::Channel;
use common::*;

/// Every way an answer can carry the token back.
fn echoing_bodies(url: &str) -> Vec<String> {
    let echo =
        format!("{url}/v25.0/1/conversations?access_token={TOKEN}&partner_key={PARTNER_KEY}");
    vec![
        format!(
            r#"{{"error":{{"message":"Invalid request {echo}","type":"OAuthException","code":100}}}}"#
        ),
        format!(
            r#"{{"error":{{"message":"Bad token {TOKEN}","type":"OAuthException","code":190,"error_subcode":467}}}}"#
        ),
        format!(r#"{{"error":{{"message":"The message has been deleted ({TOKEN})","code":100}}}}"#),
        format!(
            r#"{{"error":{{"message":"An unexpected error has occurred {echo}","code":2,"is_transient":true}}}}"#
        ),
        format!(r#"{{"error":-216,"message":"Access token {TOKEN} is invalid"}}"#),
        format!(r#"{{"error":-201,"message":"Parameters are invalid: {echo}"}}"#),
        format!(
            r#"{{"request_id":"r","error":"error_auth","message":"Invalid access_token {TOKEN} / {PARTNER_KEY}"}}"#
        ),
        format!(
            r#"{{"request_id":"r","error":"error_param","message":"Wrong parameters: {echo}"}}"#
        ),
        format!(r#"{{"request_id":"r","error":"error_server","message":"{echo}"}}"#),
        format!("<html>502 Bad Gateway for GET {echo}</html>"),
        format!(r#"{{"data":[{{"id":"m_1","created_time":"{TOKEN}"}}],"echo":"{echo}"}}"#),
        format!(r#"{{"truncated":"{echo}"#),
        format!(r#"{{"error":0,"data":[{{"src":7,"time":1,"from_id":"{TOKEN}"}}]}}"#),
        format!(
            r#"{{"error":"","response":{{"conversations":[{{"conversation_id":"{TOKEN}","last_message_timestamp":"{TOKEN}"}}]}}}}"#
        ),
    ]
}

/// Neither the account's token nor (for Shopee) its partner key shows.
fn assert_clean(account: &Account, outcome: &Outcome, context: &str) {
    let secrets: &[&str] = match account.credentials {
        Credentials::Shopee { .. } => &[TOKEN, PARTNER_KEY],
        _ => &[TOKEN],
    };
    for text in [format!("{outcome:?}"), outcome.to_string()] {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "a secret leaked in {context}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn no_outcome_of_any_channel_shows_the_token_even_when_the_answer_echoes_it() {
    let server = FixtureServer::start().await;
    let connector = server.connector();
    let accounts = [
        meta(Channel::Facebook),
        meta(Channel::Instagram),
        zalo(),
        shopee(),
    ];
    let mut classes = std::collections::BTreeSet::new();
    for body in echoing_bodies(&server.url()) {
        for status in [200, 400, 500] {
            for account in &accounts {
                server.push(Reply::json(status, body.clone()));
                let result = connector
                    .execute(account, &step(list_conversations(), None, Some(5), Some(5)))
                    .await;
                assert_clean(
                    account,
                    &result.outcome,
                    &format!("{} HTTP {status} {body}", account.channel),
                );
                classes.insert(result.outcome.class());
            }
        }
    }
    for class in ["auth_revoked", "permanent", "transient", "unavailable"] {
        assert!(
            classes.contains(class),
            "every reason-carrying class is exercised: {class} was not"
        );
    }
}

#[tokio::test]
async fn a_transport_error_never_shows_the_token_bearing_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = backfill_channels::ConnectorsConfig::default();
    config.shopee.base_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let connector = backfill_channels::Connector::new(config).unwrap();
    let result = connector
        .execute(&shopee(), &step(list_conversations(), None, Some(5), None))
        .await;
    assert!(matches!(result.outcome, Outcome::Transient(_)));
    assert_clean(&shopee(), &result.outcome, "a refused Shopee connection");

    let server = FixtureServer::start().await;
    server.push(Reply::behaving(Behaviour::Hang));
    let result = server
        .connector()
        .execute(&shopee(), &step(list_conversations(), None, Some(5), None))
        .await;
    assert_clean(&shopee(), &result.outcome, "a Shopee timeout");
}

#[test]
fn accounts_and_credentials_print_no_secret() {
    for account in [meta(Channel::Facebook), zalo(), shopee()] {
        let text = format!("{account:?}");
        assert!(
            !text.contains(TOKEN) && !text.contains(PARTNER_KEY),
            "{text}"
        );
        assert!(text.contains("REDACTED"), "{text}");
    }
}
