from explorer import tokens


def test_known_qwen3_ids():
    assert tokens.encode("Hello") == [9707]
    assert tokens.encode(" world") == [1879]
    assert tokens.encode("Hello world") == [9707, 1879]


def test_special_ids_match_qwen3():
    assert tokens.SPECIAL_TOKENS["<|endoftext|>"] == 151643
    assert tokens.IM_START == 151644 and tokens.IM_END == 151645
    assert tokens.SPECIAL_TOKENS["<think>"] == 151667
    assert tokens.SPECIAL_TOKENS["</think>"] == 151668
    ids = tokens.encode_with_specials("<|im_start|>user\nhi<|im_end|>")
    assert ids[0] == 151644 and ids[-1] == 151645
    # plain encoding never produces special ids, even for their text
    assert 151644 not in tokens.encode("<|im_start|>")


def test_round_trip_and_counts():
    text = "Marie Louise of Hesse-Kassel (7 February 1688 – 9 April 1765) was a Dutch regent."
    assert tokens.decode(tokens.encode(text)) == text
    assert tokens.count(text) == len(tokens.encode(text))
    assert tokens.count_many([text, "Hello"]) == [tokens.count(text), 1]


def test_truncate_respects_budget_and_is_a_prefix():
    text = "Xawery Żuławski (born 22 December 1971 in Warsaw) is a Polish film director."
    for n in (1, 3, 5, 8, 100):
        cut = tokens.truncate(text, n)
        assert text.startswith(cut)
        assert tokens.count(cut) <= n
    assert tokens.truncate(text, 1000) == text
