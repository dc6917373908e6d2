import pytest

from explorer.reward import RewardConfig, episode_reward, exact_match, normalize_answer, token_f1


def test_normalisation_is_the_official_one():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a day") == "apple day"


def test_f1_and_em():
    assert exact_match("the Aurora", "Aurora") == 1.0
    assert token_f1("Aurora, Ohio", "Aurora") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("Paris", "London") == 0.0
    assert exact_match("Aurora, Ohio", "Aurora") == 0.0


def test_yes_no_must_match_exactly():
    assert token_f1("yes", "no") == 0.0
    assert token_f1("yes it is", "yes") == 0.0  # as in the official 2Wiki script
    assert token_f1("Yes.", "yes") == 1.0


def test_reward_variants():
    f1 = RewardConfig(variant="f1")
    assert episode_reward(f1, 0.8, True, 1000, 2000, 2) == 0.8
    cost = RewardConfig(variant="f1_cost", cost_coef=0.2)
    assert episode_reward(cost, 0.8, True, 1000, 2000, 2) == pytest.approx(0.8 - 0.1)
    shaped = RewardConfig(variant="shaped", answer_bonus=0.1, cost_coef=0.2, invalid_penalty=0.05)
    assert episode_reward(shaped, 0.8, True, 1000, 2000, 2) == pytest.approx(0.8 + 0.1 - 0.1 - 0.1)
    assert episode_reward(shaped, 0.0, False, 0, 2000, 0) == 0.0
    with pytest.raises(ValueError, match="reward.variant"):
        RewardConfig(variant="nope")  # type: ignore[arg-type]
