"""Token counting: the offline approximation the simulated provider and test server share."""

from __future__ import annotations

from harpoon_ray.providers import tokens
from harpoon_ray.schemas import Message


def test_pieces_join_back_to_the_exact_text():
    """Splitting into pieces loses nothing, whitespace and punctuation included."""
    text = "Hello,  world!\nA tokenizer-like split: 3.14 and internationalisation_rules."
    assert "".join(tokens.pieces(text)) == text


def test_short_words_and_punctuation_are_one_token_each():
    """Common short words count one token each and each punctuation mark one more."""
    assert tokens.count("the cat sat.") == 4


def test_long_words_cost_several_tokens():
    """A word longer than six characters counts one token per six characters."""
    assert tokens.count("internationalisation") == 4  # 20 chars -> ceil(20 / 6)


def test_chat_messages_add_format_overhead():
    """Prompt tokens include a few tokens per message for the chat format."""
    messages = [Message(role="system", content="be brief"), Message(role="user", content="hi")]
    content = tokens.count("be brief") + tokens.count("hi")
    assert tokens.count_messages(messages) == content + 2 * 4 + 3
