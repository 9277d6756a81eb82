use super::*;

const LIMITS: Limits = Limits {
    max_head_bytes: 1024,
    max_headers: 8,
    max_body_bytes: 16,
};

fn complete(bytes: &[u8]) -> (Request, usize) {
    match parse(bytes, &LIMITS) {
        Parsed::Complete(request, used) => (*request, used),
        other => panic!("{other:?}"),
    }
}

fn refused(bytes: &[u8]) -> u16 {
    match parse(bytes, &LIMITS) {
        Parsed::Refused(status, _) => status,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_with_a_length_framed_body_and_a_pipelined_one_after_it() {
    let bytes = b"POST /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
    let (request, used) = complete(bytes);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/a/b")
    );
    assert_eq!(request.query, "x=1&y=2");
    assert_eq!(request.body, b"abc");
    assert!(request.keep_alive);
    assert_eq!(&bytes[used..], b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn partial_heads_and_bodies_wait_and_100_continue_is_noticed() {
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\nHost:", &LIMITS),
        Parsed::Incomplete {
            expects_continue: false
        }
    ));
    let head = b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab";
    assert!(matches!(
        parse(head, &LIMITS),
        Parsed::Incomplete {
            expects_continue: true
        }
    ));
}

#[test]
fn chunked_bodies_are_decoded_with_trailers_skipped() {
    let bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\nrest";
    let (request, used) = complete(bytes);
    assert_eq!(request.body, b"abcde");
    assert_eq!(&bytes[used..], b"rest");
    let partial = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab";
    assert!(matches!(parse(partial, &LIMITS), Parsed::Incomplete { .. }));
}

#[test]
fn every_bound_and_malformation_has_its_status() {
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n"),
        413
    );
    let big = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n";
    assert_eq!(refused(big), 413);
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
        400
    );
    let both = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(refused(both), 400);
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
        501
    );
    let bad_chunk = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n";
    assert_eq!(refused(bad_chunk), 400);
    let many: String = (0..9).map(|i| format!("H{i}: v\r\n")).collect();
    assert_eq!(
        refused(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
        431
    );
    assert_eq!(refused(&[b'A'; 1100]), 431, "a head that never ends");
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(1100));
    assert_eq!(refused(long.as_bytes()), 431);
    assert_eq!(refused(b"\x00\x01 garbage\r\n\r\n"), 400);
}

#[test]
fn connection_close_and_http_1_0_end_the_connection() {
    assert!(
        !complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .0
            .keep_alive
    );
    assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
    assert!(
        complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .0
            .keep_alive
    );
}

#[test]
fn a_response_carries_its_length_and_connection() {
    let bytes = Response::new(404, "text/plain", b"nope".to_vec()).to_bytes(false, false);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    assert!(
        text.contains("Content-Length: 4\r\nConnection: close\r\n\r\nnope"),
        "{text}"
    );
}

#[test]
fn a_chunked_body_arriving_byte_by_byte_is_decoded_once() {
    let bytes =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let mut reader = Reader::default();
    let limits = Limits {
        max_body_bytes: 1 << 20,
        ..LIMITS
    };
    for end in 1..bytes.len() {
        assert!(
            matches!(
                reader.advance(&bytes[..end], &limits),
                Parsed::Incomplete { .. }
            ),
            "{end}"
        );
    }
    match reader.advance(bytes, &limits) {
        Parsed::Complete(request, used) => {
            assert_eq!(
                (request.body.as_slice(), used),
                (&b"abcde"[..], bytes.len())
            );
        }
        other => panic!("{other:?}"),
    }
    // The reader starts over for the next request on the connection.
    assert!(matches!(
        reader.advance(b"GET / HTTP/1.1\r\n\r\n", &limits),
        Parsed::Complete(..)
    ));
}

#[test]
fn framing_given_twice_is_refused() {
    let twice = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(refused(twice), 400);
    let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(refused(te), 400);
}

#[test]
fn lenient_framing_is_refused() {
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc"),
        400
    );
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nContent-Length: \xff\r\n\r\n"),
        400
    );
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: \xffchunked\r\n\r\n"),
        400
    );
    let http_1_0 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(refused(http_1_0), 400);
}
