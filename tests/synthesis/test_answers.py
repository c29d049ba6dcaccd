"""The answer vote (core/synthesis/answers.py) on the case that looked like a majority among three different answers:
a 135M generator's candidate accepted with answers shown as "6", "4.00\\cdot B. The total cost can only be" and "82"
(bench/target_growth.py, run 17b43529d2f1). The vote was right: math-verify parsed the second solution to 6 (from
"the answer is 6"), so 6 had 2 of 3 votes. What was wrong is the answer's text: math-verify appends the string of the
*first match it tried* (here the rightmost $...$, which failed to parse), not of the match it parsed, and that string
was shown and would have been stored as the accepted row's answer had that solution won."""
from core.synthesis.answers import answer_text, extract_answer, majority

# the three solutions' endings, as the generator wrote them (trimmed before the part the parser reads)
SOLUTIONS = [
    "So now you have to subtract that from your final answer and then multiply by 6: x(x-Z). But since X is",
    "So equation 3 has a remainder of 5 when you evaluate it, and the answer is 6.\n\n2. \nA bat and a ball together "
    "cost$4.00\\cdot B. The total cost can only be$8X-B$, so that$7.95Z= A \\times B$. Now multiply",
    "First, find what $x+y=10$, and then take it into consideration that both costs are equal to each other so they "
    "do not add up. The total is 82",
]


def test_the_reported_vote_had_two_answers_of_6_and_each_answer_is_shown_as_what_was_compared():
    answers = [extract_answer(t, "math") for t in SOLUTIONS]
    assert majority(answers, "math") == (0, 2)  # 6, 6, 82: a strict majority (2 of 3) of one answer
    assert [answer_text(a, "math") for a in answers] == ["6", "6", "82"]  # not "4.00\cdot B. The total cost ..."


def test_the_winner_answer_text_is_the_parsed_value_even_when_the_winner_is_the_misleading_solution():
    answers = [extract_answer(t, "math") for t in (SOLUTIONS[1], SOLUTIONS[0], SOLUTIONS[2])]
    winner, votes = majority(answers, "math")
    assert (winner, votes) == (0, 2) and answer_text(answers[winner], "math") == "6"


def test_answer_text_keeps_the_written_form_where_it_is_the_parsed_answer():
    assert answer_text(extract_answer("so \\boxed{\\frac{1}{3}}", "math"), "math") == "\\frac{1}{3}"
    assert answer_text(extract_answer("\\boxed{6.0} done", "math"), "math") == "6.0"
    assert answer_text(None, "math") is None


def test_a_reply_whose_only_match_does_not_parse_has_no_answer_and_two_such_replies_no_majority():
    garbage = "Thus the cost is $\\alpha + \\beta \\cdot$ in the end"
    assert extract_answer(garbage, "math") is None  # math-verify gives only its fallback string: nothing to compare
    assert majority([extract_answer(t, "math") for t in (garbage, garbage, "\\boxed{3}")], "math") == (None, 1)


def test_strict_majority_over_all_samples_and_ties():
    six, seven = (extract_answer(f"\\boxed{{{n}}}", "math") for n in (6, 7))
    assert majority([six, seven, None], "math") == (None, 1)  # 1 of 3: a failed solution counts against
    assert majority([six, six, seven, seven], "math") == (None, 2)  # a tie of 2 and 2 of 4: no majority
    assert majority([six, six, seven, None], "math") == (None, 2)  # 2 of 4 is not more than half
    assert majority([seven, six, six], "math") == (1, 2)


def test_the_vote_counts_for_each_answer_the_samples_that_agree_with_it_whatever_their_order(monkeypatch):
    """math-verify's equivalence is neither transitive nor symmetric (it rounds the target to the gold's precision:
    1.0000001 ~ 0.9999999, but neither ~ 1). Grouping each answer into the first group whose first member it matches
    made the outcome depend on the order: b agrees with all five samples, but a (first) took it into a two-member
    group and c, d, e were left alone. Each answer's votes are the samples that agree with it."""
    import core.synthesis.answers as answers

    agree = {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b"), ("b", "d"), ("d", "b"), ("b", "e"), ("e", "b")}
    monkeypatch.setattr(answers, "_same", lambda x, y, mode: x == y or (x, y) in agree)
    assert majority(["a", "b", "c", "d", "e"], "exact") == (1, 5)
    assert majority(["a", "c", "b"], "exact") == (2, 3)
    assert majority(["a", "c", "d"], "exact") == (None, 1)
