from logship.kernel import fingerprint, protocol


def test_frame_round_trip():
    f = protocol.DataFrame(sid=3, start=10, payload=b"a\nb\n", flags=protocol.FLAG_FINAL)
    assert protocol.decode_frame(protocol.encode_frame(f)) == protocol.DataFrame(3, 10, b"a\nb\n", protocol.FLAG_FINAL, 4)


def test_heads_match_prefix():
    assert fingerprint.heads_match(b"abc", b"abcdef")
    assert not fingerprint.heads_match(b"abd", b"abcdef")
    assert not fingerprint.heads_match(b"", b"abc")
