//! The OAuth2 refresh-token grant docker uses with an identity token (docker's
//! `identitytoken`, [`Credentials::IdentityToken`](crate::Credentials::IdentityToken)):
//! instead of `GET realm?service=…&scope=…` with Basic credentials, the token is asked for
//! with `POST realm` and the form body built here. The response is a token response like
//! any other ([`parse_token_response`](super::parse_token_response) takes its
//! `access_token`).

/// The `client_id` sent with the grant (docker sends its own name).
pub const CLIENT_ID: &str = "dxf";

/// The `Content-Type` of the grant's body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The form body `grant_type=refresh_token&refresh_token=…&service=…&scope=…&client_id=dxf`
/// (`service` only when the challenge named one, `scope` — the scopes joined by a space —
/// only when there are any).
pub fn refresh_token_grant(
    refresh_token: &str,
    service: Option<&str>,
    scopes: &[String],
) -> Vec<u8> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token");
    form.append_pair("refresh_token", refresh_token);
    if let Some(service) = service {
        form.append_pair("service", service);
    }
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(" "));
    }
    form.append_pair("client_id", CLIENT_ID);
    form.finish().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_form_encoded_in_docker_order() {
        let body = refresh_token_grant(
            "r+t/=&x",
            Some("reg.example"),
            &[
                "repository:a/b:pull".into(),
                "repository:c:pull,push".into(),
            ],
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "grant_type=refresh_token&refresh_token=r%2Bt%2F%3D%26x&service=reg.example\
             &scope=repository%3Aa%2Fb%3Apull+repository%3Ac%3Apull%2Cpush&client_id=dxf"
        );
    }

    #[test]
    fn service_and_scope_are_optional() {
        let body = refresh_token_grant("tok", None, &[]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "grant_type=refresh_token&refresh_token=tok&client_id=dxf"
        );
    }
}
