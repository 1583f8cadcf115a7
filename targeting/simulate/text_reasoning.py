"""Reasoning prompts: word problems, algebra, probability, logic, proofs, statistics.

``problem(r, topic, diff)`` composes a bare problem statement with concrete numbers (used by
every persona); ``organic(r, topic)`` wraps it the way a person asks; ``followup`` makes the
next turn of a session on the same topic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from . import text_common as C
from .rand import R


@dataclass
class Problem:
    text: str
    topic: str
    concept: str
    num: int = 5
    answer: str | None = None
    extra: dict = field(default_factory=dict)


def _frac(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


# ----------------------------------------------------------------------------- generators
def p_travel(r: R, d: int) -> Problem:
    v1, v2 = r.randrange(40, 130, 5), r.randrange(40, 130, 5)
    dist = r.randrange(60, 400, 10) * (1 + d)
    c1, c2 = C.two_cities(r)
    n = C.first(r)
    unit = r.pick(["km", "km", "miles"])
    sp = "km/h" if unit == "km" else "mph"
    h, m = r.randint(6, 11), r.pick([0, 10, 15, 30, 45])
    forms = [
        f"A train leaves {c1} at {h}:{m:02d} heading toward {c2} at {v1} {sp}. At the same time a second train leaves {c2}, {dist} {unit} away, heading toward {c1} at {v2} {sp}. At what time do they meet, and how far from {c1} are they?",
        f"Two cars start {dist} {unit} apart and drive toward each other, one at {v1} {sp} and the other at {v2} {sp}. How long until they meet?",
        f"{n} drives from {c1} to {c2} ({dist} {unit}) at an average of {v1} {sp} and comes back at {v2} {sp}. What is the average speed for the whole round trip?",
        f"A boat travels {dist // 10} {unit} upstream in {r.randint(2, 5)} hours and the same distance downstream in {r.randint(1, 2)} hours. Find the speed of the boat in still water and the speed of the current.",
        f"{n} cycles to work at {r.randint(12, 25)} {sp} and is {r.randint(4, 15)} minutes late; at {r.randint(26, 35)} {sp} they'd be {r.randint(2, 9)} minutes early. How far is work?",
        f"A runner starts a {dist // 20 + 5} {unit} race at {r.randint(8, 12)} {sp}. {r.randint(10, 30)} minutes later a second runner starts at {r.randint(13, 18)} {sp}. Does the second runner catch up before the finish line?",
    ]
    if d == 2:
        forms.append(
            f"Train A leaves {c1} at {v1} {sp}. {r.randint(1, 3)} hours later train B leaves the same station on a parallel track at {v1 + r.randint(10, 40)} {sp}. A third train leaves {c2}, {dist} {unit} away, at {v2} {sp} toward {c1} at the moment B departs. Which train does the third train meet first, and when?")
    return Problem(r.pick(forms), "travel", "relative speed", num=v1,
                   answer=f"{dist / (v1 + v2):.2f} hours" if v1 + v2 else None)


def p_work(r: R, d: int) -> Problem:
    a, b = r.randint(2, 12), r.randint(3, 15)
    c = r.randint(a + b, 30)
    w, days = r.randint(3, 12), r.randint(4, 20)
    forms = [
        f"Pipe A can fill a tank in {a} hours and pipe B can fill it in {b} hours. How long does it take if both are open?",
        f"Pipe A fills a pool in {a} hours, pipe B in {b} hours, and a drain empties it in {c} hours. If all three are open, how long until the pool is full?",
        f"{w} workers can build a wall in {days} days. How many days would it take {w + r.randint(1, 8)} workers working at the same rate?",
        f"{C.first(r)} can paint a fence in {a} hours and {C.first(r)} can paint it in {b} hours. They work together for 1 hour, then one of them leaves. How long does the other need to finish?",
        f"A printer prints {r.randint(20, 60)} pages per minute and a second printer prints {r.randint(10, 40)} pages per minute. How long do they need together for a {r.randint(3, 30) * 100}-page job?",
    ]
    ans = Fraction(a * b, a + b)
    return Problem(r.pick(forms), "work_rate", "combined rates", num=a, answer=f"{float(ans):.2f} hours")


def p_percent(r: R, d: int) -> Problem:
    price = r.randint(20, 900)
    p, q = r.randint(5, 60), r.randint(5, 60)
    item = r.pick(C.PRODUCTS)
    forms = [
        f"A {item} costs ${price}. It's discounted by {p}% and then sales tax of {r.randint(5, 10)}% is added. What's the final price?",
        f"The price of a {item} went up by {p}% and then down by {q}%. Is it now more or less than the original, and by what percent?",
        f"After a {p}% discount a {item} costs ${price}. What was the original price?",
        f"A shop's revenue was ${price * 1000:,} last year and ${price * 1000 + r.randint(-200, 400) * 100:,} this year. What is the percentage change?",
        f"{C.first(r)} got {r.randint(30, 58)} out of {r.randint(60, 80)} on a test. What percentage is that, and how many more points were needed for {r.pick([70, 75, 80, 85, 90])}%?",
        f"A population of {r.randint(2, 90) * 1000} grows by {r.randint(2, 9)}% per year. What will it be after {r.randint(3, 12)} years?",
    ]
    return Problem(r.pick(forms), "percent", "percentages", num=p,
                   answer=f"${price * (100 - p) / 100:.2f}")


def p_interest(r: R, d: int) -> Problem:
    P = r.randint(5, 200) * 100
    rate = r.choice([1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7.25])
    yrs = r.randint(2, 30)
    forms = [
        f"If I invest ${P:,} at {rate}% annual interest compounded monthly, how much will I have after {yrs} years?",
        f"What's the difference between simple and compound interest on ${P:,} at {rate}% for {yrs} years?",
        f"How many years does it take for money to double at {rate}% compounded annually? Compare with the rule of 72.",
        f"A loan of ${P * 10:,} at {rate}% APR is paid back over {yrs} years with monthly payments. What is the monthly payment?",
        f"I put ${r.randint(1, 20) * 50} into savings every month at {rate}% annual interest. How much after {yrs} years?",
    ]
    return Problem(r.pick(forms), "interest", "compound interest", num=yrs,
                   answer=f"${P * (1 + rate / 1200) ** (12 * yrs):,.2f}")


def p_ages(r: R, d: int) -> Problem:
    a, b = C.two_names(r)
    k = r.randint(2, 5)
    y = r.randint(2, 15)
    s = r.randint(20, 90)
    forms = [
        f"{a} is {k} times as old as {b}. In {y} years, {a} will be twice as old as {b}. How old are they now?",
        f"The sum of {a}'s and {b}'s ages is {s}. {y} years ago {a} was {k} times as old as {b}. Find their current ages.",
        f"{a}'s mother is {k * 10 + r.randint(0, 9)} years old and {a} is {r.randint(5, 15)}. In how many years will the mother be exactly twice as old as {a}?",
        f"{y} years from now {a} will be {k} times as old as {b} was {y} years ago. If {a} is now {s // 2 + y} years old, how old is {b}?",
    ]
    return Problem(r.pick(forms), "ages", "setting up equations", num=k)


def p_mixture(r: R, d: int) -> Problem:
    p1, p2 = sorted(r.sample([5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80], 2))
    target = r.randint(p1 + 1, p2 - 1)
    v = r.randint(2, 40)
    forms = [
        f"How many liters of a {p1}% salt solution must be mixed with {v} liters of a {p2}% solution to get a {target}% solution?",
        f"A coffee shop blends beans costing ${p1 / 5:.2f}/lb with beans costing ${p2 / 5:.2f}/lb to make {v * 5} lb of a blend costing ${target / 5:.2f}/lb. How much of each?",
        f"A {v}-liter radiator is {p1}% antifreeze. How much should be drained and replaced with pure antifreeze to reach {target}%?",
    ]
    return Problem(r.pick(forms), "mixture", "weighted averages", num=v)


def p_geometry(r: R, d: int) -> Problem:
    w, h = r.randint(4, 40), r.randint(4, 40)
    p = r.randint(1, 3)
    rad = r.randint(2, 20)
    forms = [
        f"A rectangular garden is {w} m by {h} m with a path {p} m wide all around it on the outside. What's the area of the path?",
        f"A cylindrical tank has radius {rad} cm and height {h} cm. How many liters does it hold?",
        f"A right triangle has legs {w} and {h}. Find the hypotenuse and the altitude to the hypotenuse.",
        f"A circle is inscribed in a square of side {w} cm. What is the area between the circle and the square?",
        f"A ladder {h + 5} ft long leans against a wall with its foot {min(w, h + 4)} ft from the wall. How high up the wall does it reach?",
        f"Find the area of a triangle with sides {w}, {h} and {max(abs(w - h) + 1, min(w + h - 1, r.randint(4, 40)))} using Heron's formula.",
        f"A pizza of diameter {rad + 20} cm is cut into {r.choice([6, 8, 10, 12])} equal slices. What is the area of one slice, and the length of its crust edge?",
        f"What is the sum of the interior angles of a polygon with {r.randint(5, 20)} sides, and what is each angle if it's regular?",
    ]
    return Problem(r.pick(forms), "geometry", "area and perimeter", num=w)


def p_linear(r: R, d: int) -> Problem:
    x = r.randint(-12, 15)
    a, c = r.randint(2, 9), r.randint(1, 7)
    if a == c:
        a += 1
    b = r.randint(-20, 20)
    dd = a * x + b - c * x
    forms = [
        f"Solve for x: {a}x + {b} = {c}x + {dd}",
        f"Solve {a}(x - {r.randint(1, 5)}) = {c}x + {dd}",
        f"Solve for x: x/{a} + {b} = {dd}",
        f"Find x if {a}x - {abs(b)} = {a * x - abs(b)}",
    ]
    ys = r.randint(-9, 9)
    forms.append(f"Solve the system: {a}x + {c}y = {a * x + c * ys} and x - y = {x - ys}")
    if d >= 1:
        z = r.randint(-5, 5)
        forms.append(f"Solve the system: x + y + z = {x + ys + z}, {a}x - y + {c}z = {a * x - ys + c * z}, x + {c}y - z = {x + c * ys - z}")
    return Problem(r.pick(forms).replace("+ -", "- "), "linear_equations", "isolating x", num=a, answer=f"x = {x}")


def p_quadratic(r: R, d: int) -> Problem:
    r1, r2 = r.randint(-9, 9), r.randint(-9, 9)
    k = r.choice([1, 1, 1, 2, 3])
    b, c = -k * (r1 + r2), k * r1 * r2
    poly = f"{'' if k == 1 else k}x^2 + {b}x + {c}".replace("+ -", "- ").replace(" + 0x", "").replace(" + 0", "")
    forms = [
        f"Solve {poly} = 0",
        f"Factor {poly}",
        f"Find the vertex and axis of symmetry of y = {poly}",
        f"For what values of m does x^2 + mx + {abs(c) + 1} = 0 have two real roots?",
        f"Use the quadratic formula to solve {poly} = 0 and check with factoring.",
        f"The product of two consecutive {r.pick(['integers', 'even integers', 'odd integers'])} is {r1 * (r1 + 2) if r1 > 0 else 168}. Find them.",
        f"A ball is thrown upward with height h(t) = -5t^2 + {r.randint(10, 40)}t + {r.randint(1, 30)}. When does it hit the ground and what is the max height?",
    ]
    return Problem(r.pick(forms), "quadratics", "the discriminant", num=c, answer=f"x = {r1} or x = {r2}")


def p_inequality(r: R, d: int) -> Problem:
    a, b, c = r.randint(2, 9), r.randint(-15, 15), r.randint(-10, 30)
    forms = [
        f"Solve the inequality {a}x - {abs(b)} > {c} and write the answer in interval notation.",
        f"Solve |{a}x + {b}| <= {abs(c) + 1}".replace("+ -", "- "),
        f"Solve x^2 - {a + 1}x + {a} < 0",
        f"For which x is ({a}x + 1)/(x - {abs(b) % 7 + 1}) >= 0?",
        f"Prove that for positive a and b, (a + b)/2 >= sqrt(ab), and say when equality holds.",
    ]
    return Problem(r.pick(forms).replace("+ -", "- "), "inequalities", "sign analysis", num=a)


def p_dice(r: R, d: int) -> Problem:
    n = r.randint(2, 4) if d else 2
    s = r.randint(n + 1, 6 * n - 1)
    k = r.randint(3, 10)
    sides = r.pick([6, 6, 6, 8, 10, 12, 20])
    forms = [
        f"Two fair dice are rolled. What is the probability that the sum is {min(s, 12)}?",
        f"If you roll {n} fair {sides}-sided dice, what's the probability that at least one shows a {sides}?",
        f"What's the probability of getting at least one six in {k} rolls of a fair die?",
        f"Roll a fair die until you get a {r.randint(1, 6)}. What's the expected number of rolls?",
        f"Two dice are rolled. Given that the sum is at least {r.randint(7, 10)}, what is the probability that at least one die shows a 6?",
        f"You roll {n} dice. What is the probability that all of them show different numbers?",
        f"I roll a d{sides} and a d6 and take the larger. What's the expected value?",
    ]
    num, den = 6 - abs(7 - min(s, 12)), 36
    return Problem(r.pick(forms), "dice", "counting outcomes", num=k,
                   answer=_frac(Fraction(max(num, 1), den)))


def p_cards(r: R, d: int) -> Problem:
    k = r.randint(2, 7)
    forms = [
        f"You draw {k} cards from a standard 52-card deck without replacement. What is the probability they are all hearts?",
        "What's the probability of being dealt a full house in a 5-card poker hand?",
        f"Two cards are drawn from a deck. What is the probability that the second is an ace given the first was a {r.pick(['king', 'queen', 'ace', 'heart'])}?",
        f"If I draw {k} cards, what's the probability that at least two have the same suit?",
        f"A deck is shuffled. What's the probability that the top {k} cards contain no face cards?",
        "What is the probability of a flush in a 5-card hand, excluding straight flushes?",
    ]
    return Problem(r.pick(forms), "cards", "combinations", num=k)


def p_bayes(r: R, d: int) -> Problem:
    prev = r.choice([0.1, 0.5, 1, 2, 5, 8, 10])
    sens = r.choice([80, 85, 90, 95, 98, 99])
    fp = r.choice([1, 2, 3, 5, 8, 10])
    thing = r.pick(["a rare disease", "a genetic condition", "a virus", "a defect in a chip"])
    forms = [
        f"A test for {thing} is {sens}% sensitive and has a {fp}% false positive rate. The prevalence is {prev}%. If someone tests positive, what's the probability they actually have it?",
        f"{prev}% of emails are spam. A filter flags {sens}% of spam and {fp}% of legitimate mail. Given an email is flagged, what is the chance it is spam?",
        f"Factory A makes {r.randint(20, 70)}% of widgets with a {r.randint(1, 6)}% defect rate; factory B makes the rest with a {r.randint(1, 9)}% defect rate. A widget is defective. What's the probability it came from A?",
        f"A patient tests positive twice in a row for {thing} with a test that is {sens}% sensitive and {100 - fp}% specific (independent results). Prevalence is {prev}%. What is the posterior probability?",
    ]
    p = (sens / 100 * prev / 100) / (sens / 100 * prev / 100 + fp / 100 * (1 - prev / 100))
    return Problem(r.pick(forms), "conditional_probability", "Bayes' theorem", num=sens, answer=f"{p:.3f}")


def p_urn(r: R, d: int) -> Problem:
    red, blue = r.randint(2, 12), r.randint(2, 12)
    g = r.randint(0, 6)
    k = r.randint(2, 4)
    forms = [
        f"A bag has {red} red and {blue} blue marbles. You draw {k} without replacement. What's the probability they're all red?",
        f"A box contains {red} red, {blue} blue and {g + 1} green balls. Two are drawn. What is the probability they are different colors?",
        f"An urn has {red} white and {blue} black balls. Draw one, put it back with another of the same color, then draw again. P(second is black)?",
        f"There are {red + blue} socks in a drawer, {red} black and {blue} white. What's the minimum number I must pull out in the dark to be sure of a matching pair, and what's the probability the first two match?",
    ]
    return Problem(r.pick(forms), "urns", "sampling without replacement", num=red)


def p_expected(r: R, d: int) -> Problem:
    a, b = r.randint(1, 20), r.randint(1, 50)
    forms = [
        f"A game costs ${a} to play. You roll a die: on a 6 you win ${b}, on a 5 you win ${a}, otherwise nothing. What is the expected profit?",
        f"A lottery ticket costs ${a}. There is one prize of ${b * 1000} and {r.randint(2, 10)} prizes of ${b * 10} among {r.randint(5, 50) * 1000} tickets. Expected value of a ticket?",
        f"You flip a fair coin until the first heads. You win $2^n where n is the number of flips. What's the expected value and why does this matter?",
        f"What is the expected number of coin flips to get {r.randint(2, 4)} heads in a row?",
        f"An insurance company charges ${a * 50} per year for a policy that pays ${b * 1000} with probability {r.choice([0.1, 0.5, 1, 2])}%. What's the company's expected profit per policy?",
        f"A box has {r.randint(3, 9)} envelopes, one with ${b * 10} and the rest with ${a}. You may open envelopes for $5 each until you find the big one. Should you play?",
    ]
    return Problem(r.pick(forms), "expected_value", "expected value", num=b)


def p_binomial(r: R, d: int) -> Problem:
    p = r.randint(20, 90)
    n = r.randint(5, 20)
    k = r.randint(1, n - 1)
    forms = [
        f"A basketball player makes {p}% of free throws. In {n} attempts, what's the probability of making exactly {k}?",
        f"A coin is flipped {n} times. What's the probability of at least {k} heads?",
        f"{p}% of customers buy something. Out of {n} visitors, what's the probability that at most {k} buy?",
        f"A multiple-choice test has {n} questions with 4 options each. If a student guesses on every one, what's the probability of passing with {k} or more correct?",
        f"Defect rate is {r.randint(1, 9)}%. In a batch of {n * 10} items, approximate the probability of more than {k} defects using the Poisson approximation.",
    ]
    prob = math.comb(n, k) * (p / 100) ** k * (1 - p / 100) ** (n - k)
    return Problem(r.pick(forms), "binomial", "the binomial distribution", num=n, answer=f"{prob:.4f}")


_WORDS = ["BANANA", "MISSISSIPPI", "STATISTICS", "COMMITTEE", "APPLE", "LETTER", "BALLOON",
          "ENGINEERING", "PEPPER", "CALCULUS", "ALGEBRA", "PARALLEL", "SUCCESS", "TENNESSEE"]


def p_combinatorics(r: R, d: int) -> Problem:
    w = r.pick(_WORDS)
    m, f = r.randint(4, 10), r.randint(4, 10)
    k = r.randint(2, 5)
    gx, gy = r.randint(3, 8), r.randint(3, 8)
    forms = [
        f"How many distinct arrangements of the letters in {w} are there?",
        f"A committee of {k} is chosen from {m} men and {f} women. How many committees have at least {min(2, k)} women?",
        f"How many paths are there from the bottom-left to the top-right of a {gx}x{gy} grid moving only right or up?",
        f"In how many ways can {m} people sit around a round table if two particular people refuse to sit next to each other?",
        f"How many {k}-digit numbers have digits that are strictly increasing?",
        f"In how many ways can you distribute {m + f} identical candies among {k} children so each gets at least one?",
        f"How many subsets of {{1, 2, ..., {m + f}}} contain no two consecutive numbers?",
        f"How many ways can {k} rooks be placed on an {gx}x{gx} board so that none attack each other?",
    ]
    return Problem(r.pick(forms), "combinatorics", "counting", num=k)


def p_number_theory(r: R, d: int) -> Problem:
    a, b = r.randint(12, 400), r.randint(12, 400)
    base, exp = r.randint(2, 19), r.randint(20, 2026)
    mod = r.choice([5, 7, 9, 10, 11, 13, 17, 100])
    forms = [
        f"Find gcd({a}, {b}) and lcm({a}, {b}) using the Euclidean algorithm.",
        f"What is the last digit of {base}^{exp}?",
        f"What is the remainder when {base}^{exp} is divided by {mod}?",
        f"Find all integer solutions of {a % 20 + 3}x + {b % 20 + 5}y = {r.randint(1, 60)}.",
        f"How many positive divisors does {a * b} have?",
        f"Is {a * 10 + 1} prime? Show how you check.",
        f"Find the smallest positive integer that leaves remainder {r.randint(1, 2)} when divided by 3, {r.randint(1, 4)} when divided by 5 and {r.randint(1, 6)} when divided by 7.",
        f"What is {a}^{-1} mod {r.choice([97, 101, 103, 107])}?",
    ]
    return Problem(r.pick(forms), "number_theory", "modular arithmetic", num=base,
                   answer=str(math.gcd(a, b)))


def p_sequences(r: R, d: int) -> Problem:
    a, k = r.randint(1, 9), r.randint(2, 7)
    kind = r.randint(0, 4)
    if kind == 0:
        seq = [a + k * i for i in range(5)]
    elif kind == 1:
        seq = [a * k ** i for i in range(5)]
    elif kind == 2:
        seq = [i * (i + 1) + a for i in range(1, 6)]
    elif kind == 3:
        seq = [a, k]
        for _ in range(3):
            seq.append(seq[-1] + seq[-2])
    else:
        seq = [i ** 2 + k for i in range(1, 6)]
    s = ", ".join(map(str, seq))
    n = r.randint(10, 100)
    forms = [
        f"What's the next number in the sequence {s}, ...? Explain the pattern.",
        f"Find a formula for the nth term of {s}, ...",
        f"Find the sum of the first {n} terms of the arithmetic sequence {a}, {a + k}, {a + 2 * k}, ...",
        f"What is the sum of the geometric series {a} + {a * k} + {a * k * k} + ... up to {r.randint(6, 15)} terms?",
        f"Does the series sum of 1/n^{r.choice(['2', '1', '1.5', '0.5'])} converge? Justify.",
    ]
    return Problem(r.pick(forms), "sequences", "finding the pattern", num=n)


_KK_STATES = ["is a knight", "is a knave", "and I are both knaves", "and I are the same type",
              "is lying", "would say I am a knight"]


def p_knights(r: R, d: int) -> Problem:
    names = r.sample(C.FIRST_NAMES, 3 if d else 2)
    lines = []
    for i, nm in enumerate(names):
        other = names[(i + 1) % len(names)]
        st = r.pick(_KK_STATES)
        if st.startswith("and"):
            lines.append(f'{nm} says: "{other} {st}."')
        else:
            lines.append(f'{nm} says: "{other} {st}."')
    body = " ".join(lines)
    forms = [
        f"On an island, knights always tell the truth and knaves always lie. {body} Who is a knight and who is a knave?",
        f"Knights and knaves puzzle: {body} Determine each person's type.",
        f"Every inhabitant is either a truth-teller or a liar. {body} What can you conclude?",
    ]
    return Problem(r.pick(forms), "logic_puzzles", "case analysis", num=len(names))


_PETS = ["cat", "dog", "parrot", "fish", "rabbit", "turtle"]
_COLORS = ["red", "blue", "green", "yellow", "white"]


def p_ordering(r: R, d: int) -> Problem:
    n = 4 if d else 3
    names = r.sample(C.FIRST_NAMES, n)
    pets = r.sample(_PETS, n)
    cols = r.sample(_COLORS, n)
    clues = [
        f"{names[0]} lives directly left of the person with the {pets[1]}.",
        f"The {cols[0]} house is not at either end.",
        f"{names[1]} does not own the {pets[0]}.",
        f"The person in the {cols[1]} house owns the {pets[2 % n]}.",
        f"{names[2 % n]} lives in the {cols[2 % n]} house or next to it.",
        f"The {pets[0]} owner lives further right than {names[-1]}.",
    ]
    r.shuffle(clues)
    k = r.randint(3, len(clues))
    forms = [
        f"{n} people live in {n} houses in a row: {', '.join(names)}. Each has a different pet ({', '.join(pets)}) and house color ({', '.join(cols)}). Clues: " + " ".join(clues[:k]) + " Who owns the " + pets[0] + "?",
        f"Logic puzzle. People: {', '.join(names)}. Pets: {', '.join(pets)}. " + " ".join(clues[:k]) + " Is there a unique solution? If so, find it.",
    ]
    other = [
        f"A farmer must cross a river with a wolf, a goat and a cabbage. The boat carries only the farmer and one item. How does he do it?",
        f"You have {r.choice([8, 9, 12, 13])} coins, one counterfeit and {r.pick(['lighter', 'heavier', 'either lighter or heavier'])}. With a balance scale, what is the minimum number of weighings to find it? Describe the strategy.",
        f"Three boxes are labeled apples, oranges and mixed, but all labels are wrong. You may pick one fruit from one box. How do you relabel them?",
        f"{n + r.randint(1, 4)} prisoners wear hats that are black or white and stand in a line. Starting from the back, each guesses their own color. What strategy saves the most?",
        f"You have two ropes that each take 60 minutes to burn but unevenly. How do you measure {r.choice([15, 30, 45])} minutes?",
        f"A {r.randint(3, 8)}-gallon jug and a {r.randint(9, 13)}-gallon jug: how do you measure exactly {r.randint(1, 7)} gallons?",
    ]
    return Problem(r.pick(forms + other), "logic_puzzles", "eliminating cases", num=n)


_CATS = ["cats", "mammals", "doctors", "artists", "birds", "programmers", "musicians", "teachers",
         "athletes", "engineers", "reptiles", "philosophers", "vegetarians", "pilots"]


def p_syllogism(r: R, d: int) -> Problem:
    a, b, c = r.sample(_CATS, 3)
    q = r.pick(["All", "Some", "No"])
    who = C.first(r)
    forms = [
        f"All {a} are {b}. Some {b} are {c}. Does it follow that some {a} are {c}? Explain.",
        f"No {a} are {b}. All {c} are {b}. What can we conclude about {c} and {a}?",
        f"{q} {a} are {b}, and some {c} are not {b}. Is the argument 'therefore some {c} are not {a}' valid?",
        f"If it rains, the match is cancelled. The match was not cancelled. What follows, and what is this rule called?",
        f"Is this valid: 'If {a} then {b}. {b}. Therefore {a}.' Name the fallacy if there is one.",
        f"Translate into predicate logic and check validity: every {a[:-1]} that is a {b[:-1]} is also a {c[:-1]}; {who} is one of the {a} but not one of the {c}; so {who} is not one of the {b}.",
    ]
    return Problem(r.pick(forms), "logic", "logical validity", num=3)


def p_proof(r: R, d: int) -> Problem:
    p = r.choice([2, 3, 5, 7, 11, 13])
    a = r.randint(2, 9)
    k = r.randint(2, 6)
    forms = [
        f"Prove that sqrt({p}) is irrational.",
        "Prove that there are infinitely many primes.",
        "Prove by induction that 1 + 2 + ... + n = n(n+1)/2.",
        f"Prove that n^3 - n is divisible by 6 for every integer n.",
        f"Prove by induction that {a}^n - 1 is divisible by {a - 1} for all n >= 1.",
        "Prove that the sum of the first n odd numbers is n^2.",
        f"Prove that among any {k + 1} integers, two have the same remainder mod {k}.",
        "Prove that the product of two odd numbers is odd.",
        f"Show that 2^n > n^{k} for all sufficiently large n and find where it starts.",
        "Prove that every tree with n vertices has n-1 edges.",
        f"Prove the triangle inequality for real numbers: |x + y| <= |x| + |y|.",
        f"Prove that {a * k + 1} people in a room always include two who shook hands with the same number of people.",
        "Prove that the square of any integer is congruent to 0 or 1 mod 4.",
        f"Prove that if n^2 is even then n is even, and use it to show log2({p * 2 + 1}) is irrational.",
        "Prove that the harmonic series diverges.",
    ]
    return Problem(r.pick(forms), "proofs", "the induction step", num=k)


_FUNCS = ["sin(x)", "cos(x)", "e^x", "ln(x)", "x^2", "x^3", "sqrt(x)", "tan(x)", "1/x", "e^(2x)"]


def p_calculus(r: R, d: int) -> Problem:
    f1, f2 = r.sample(_FUNCS, 2)
    a, b = r.randint(1, 9), r.randint(1, 9)
    forms = [
        f"Find the derivative of f(x) = {a}{f1} * {f2}",
        f"Differentiate y = ({f1})^{b} using the chain rule.",
        f"Compute the integral of {a}x * {f2} dx",
        f"Evaluate the definite integral from 0 to {b} of ({a}x^2 + {b}x) dx",
        f"Find the limit as x -> 0 of (sin({a}x))/({b}x)",
        f"A box with no lid is made from a {a * 10 + 10} cm by {b * 10 + 20} cm sheet by cutting squares from the corners. What size squares maximize the volume?",
        f"Find the local maxima and minima of f(x) = x^3 - {a * 3}x^2 + {b}x + 1",
        f"Water drains from a cone of radius {a} m and height {a + b} m at {b} m^3/min. How fast is the level falling when the water is {a} m deep?",
        f"Find the Taylor series of {f1} around x = 0 up to the x^{r.randint(3, 6)} term.",
        f"Solve the differential equation dy/dx = {a}y with y(0) = {b}.",
    ]
    return Problem(r.pick(forms), "calculus", "the chain rule", num=a)


def p_stats(r: R, d: int) -> Problem:
    n = r.randint(6, 14)
    data = [r.randint(1, 99) for _ in range(n)]
    s = ", ".join(map(str, data))
    mu = r.randint(50, 120)
    sd = r.randint(5, 25)
    forms = [
        f"Find the mean, median and standard deviation of: {s}",
        f"Scores are normally distributed with mean {mu} and SD {sd}. What percent of students score above {mu + r.randint(5, 2 * sd)}?",
        f"A sample of {n * 5} has mean {mu} and standard deviation {sd}. Build a 95% confidence interval for the population mean.",
        f"Is there an outlier in this data: {s}, {max(data) * 3}? Use the 1.5 IQR rule.",
        f"A coin lands heads {n * 5 + r.randint(3, 20)} times in {n * 10} flips. Is it fair at the 5% level?",
        f"Here are x and y values: x = {', '.join(str(i) for i in range(1, 7))}; y = {', '.join(str(r.randint(2, 30)) for _ in range(6))}. Compute the least squares line and r.",
        f"Group A (n={n * 3}) has mean {mu} (SD {sd}); group B (n={n * 3 + 4}) has mean {mu + r.randint(1, 9)} (SD {sd + 2}). Do a two-sample t-test.",
    ]
    return Problem(r.pick(forms), "statistics", "standard deviation", num=n,
                   answer=f"{sum(data) / n:.2f}")


_CONCEPTS = [
    "the Monty Hall problem and why switching is better", "why 0.999... equals 1",
    "why we can't divide by zero", "the birthday paradox", "the gambler's fallacy",
    "why a negative times a negative is positive", "what a p-value actually means",
    "Simpson's paradox with an example", "why the sum of angles in a triangle is 180 degrees",
    "the difference between correlation and causation", "why e shows up in compound interest",
    "what makes a proof by contradiction valid", "why there are different sizes of infinity",
    "the pigeonhole principle", "why the derivative of e^x is e^x", "the law of large numbers",
    "why the square root of 2 can't be a fraction", "how RSA uses prime numbers",
    "Bayes' theorem intuitively", "the prisoner's dilemma", "Zeno's paradox",
    "how to tell if a logical argument is valid", "the two envelopes paradox",
    "why the harmonic series diverges", "the difference between permutations and combinations",
    "what an eigenvalue means geometrically", "Gödel's incompleteness theorem in simple terms",
]


def p_concept(r: R, d: int) -> Problem:
    c = r.pick(_CONCEPTS)
    forms = [
        f"Can you explain {c}?", f"Explain {c} like I'm 15.", f"I never understood {c}. Walk me through it.",
        f"What's the intuition behind {c}?", f"Give me a clear explanation of {c} with an example.",
        f"Why is it true? ({c})",
    ]
    return Problem(r.pick(forms), "concepts", c, num=3)


GENERATORS = {
    "travel": p_travel, "work_rate": p_work, "percent": p_percent, "interest": p_interest,
    "ages": p_ages, "mixture": p_mixture, "geometry": p_geometry,
    "linear_equations": p_linear, "quadratics": p_quadratic, "inequalities": p_inequality,
    "dice": p_dice, "cards": p_cards, "conditional_probability": p_bayes, "urns": p_urn,
    "expected_value": p_expected, "binomial": p_binomial, "combinatorics": p_combinatorics,
    "number_theory": p_number_theory, "sequences": p_sequences, "knights": p_knights,
    "logic_puzzles": p_ordering, "logic": p_syllogism, "proofs": p_proof,
    "calculus": p_calculus, "statistics": p_stats, "concepts": p_concept,
}
TOPICS = list(GENERATORS)
# rough popularity among people (word problems and algebra more common than proofs)
TOPIC_WEIGHTS = [6, 4, 6, 4, 3, 2, 5, 7, 6, 3, 5, 3, 4, 3, 3, 3, 4, 3, 4, 2, 3, 2, 3, 5, 5, 4]
DIFFICULTY_NAMES = ["easy", "medium", "hard"]


def problem(r: R, topic: str | None = None, diff: int | None = None) -> Problem:
    topic = topic or r.wpick(TOPICS, TOPIC_WEIGHTS)
    diff = r.wpick([0, 1, 2], [5, 3, 1]) if diff is None else diff
    return GENERATORS[topic](r, diff)


# ----------------------------------------------------------------------------- organic asks
_ASK_OPEN = [
    "", "", "", "", "Can you help me solve this?", "Homework question:", "I'm stuck on this one:",
    "how do i do this", "My kid brought this home and I can't figure it out:", "Solve:",
    "Need help with this problem.", "Can someone explain this?", "This is from my textbook:",
    "Practice problem:", "We did this in class and I still don't get it.", "Q:",
    "Help me work through this:", "Is there a trick to this one?", "From a past exam:",
]
_ASK_CLOSE = [
    "", "", "", "", "Please explain your reasoning.", "step by step pls", "Show your work.",
    "just the answer", "explain like I'm 12", "Please show the steps so I can follow.",
    "Can you explain each step?", "What's the intuition?", "Keep it short.",
    "I need to understand it, not just get the answer.", "Think it through carefully.",
    "Can you check my reasoning?", "which formula do I use?", "Give the exact value, not a decimal.",
    "this one is hard", "Think aloud so I can follow.", "Before giving the answer, explain the idea behind it.",
    "Can you tell me whether I'm on the right track?", "Explain every step, I have a test on this.",
    "(medium difficulty according to the book)", "Show the full reasoning please.",
    "Explain it the way an expert would reason about it.", "Can you articulate why each step is valid?",
]


_NO_ATTEMPT = {"concepts", "proofs", "logic_puzzles", "logic", "knights"}


def organic(r: R, topic: str | None = None, diff: int | None = None) -> tuple[str, Problem]:
    pr = problem(r, topic, diff)
    body = pr.text
    u = r.random()
    if pr.topic in _NO_ATTEMPT:
        u = 0.5 + u / 2
    if u < 0.12:
        wrong = pr.answer or str(pr.num * r.randint(2, 9))
        if pr.answer and r.maybe(0.5):
            wrong = f"{pr.answer}".replace(str(pr.num), str(pr.num + 1)) if str(pr.num) in pr.answer else f"{wrong}?"
        text = f"{body}\n\nI got {wrong} but the answer key says something else. Who's right?"
    elif u < 0.2:
        steps = r.pick([
            "First I set up the equation, then I moved everything to one side and divided.",
            "I multiplied the two probabilities together and got a weird number.",
            "I used the formula from class but plugged in the numbers in the wrong order I think.",
            "I tried drawing a diagram but got lost after the second step.",
        ])
        text = f"{body}\n\nMy attempt: {steps} Where did I go wrong?"
    elif u < 0.23:
        text = f"Is there a quick way to check this kind of problem? For example: {body}"
    elif u < 0.26:
        prop = pr.answer or str(pr.num * r.randint(2, 9))
        text = r.pick([f"{body}\n\nMy proposed answer is {prop}. Can you check it independently?",
                       f"{body} -- is {prop} right? Work it out yourself first, then compare.",
                       f"Check whether {prop} is the correct answer here: {body}"])
    else:
        op, cl = r.pick(_ASK_OPEN), r.pick(_ASK_CLOSE)
        if pr.topic in _NO_ATTEMPT and any(w in cl for w in ("value", "formula", "book")):
            cl = ""
        text = " ".join(x for x in (op, body, cl) if x)
        if op and r.maybe(0.4):
            text = op + "\n\n" + body + ((" " + cl) if cl else "")
    return text, pr


_FOLLOW = [
    "now do it for n={n}", "can you explain step {k}?", "why did you divide by {n} there?",
    "what if it was {n} instead?", "I still don't get the part about {concept}.",
    "is there a faster way?", "ok and how would I check the answer?",
    "can you give me a similar problem to practice?", "wait, shouldn't it be {n}?",
    "thanks. and if the numbers were doubled?", "Can you explain it more simply?",
    "how would this change if {n} was negative?", "So the final answer is {n}?",
    "why does that formula work?", "ok that makes sense. one more like that please",
    "Can you write out step {k} in more detail?", "hmm that's different from what my teacher did",
    "what's the general formula?", "can you draw a table for it?", "are you sure? recheck step {k}",
    "Why not just use {concept} directly?", "got it!! now what about {n}",
    "give me a harder one", "a medium-difficulty one please",
    "can you explain it as if you're thinking aloud?", "why is that step required?",
]


def followup(r: R, pr: Problem) -> str:
    n = pr.num + r.randint(1, 9)
    return r.pick(_FOLLOW).format(n=n, k=r.randint(2, 5), concept=pr.concept)


# ------------------------------------------------------------------- grading / rubric prompts
_RUBRICS = [
    "1) correct setup (2 pts) 2) correct computation (2 pts) 3) clear final answer (1 pt)",
    "Award full credit only if every step is justified. Deduct 1 point per arithmetic error.",
    "Score 0-10. Correctness 6, clarity 2, completeness 2.",
    "- Identifies the right method\n- Executes it without errors\n- States the answer with units",
    "Pass/fail: the final answer must match and the reasoning must be valid.",
]


def student_solution(r: R, pr: Problem) -> str:
    ans = pr.answer or str(pr.num * r.randint(2, 7))
    wrong = r.maybe(0.5)
    final = f"{ans}" if not wrong else f"{pr.num * r.randint(2, 12)}"
    n, m = pr.num, r.randint(2, 12)
    steps = r.sample([
        "Let x be the unknown quantity.", "Write down what we know.", "Set up the equation from the statement.",
        "Simplify both sides.", "Substitute the given values.", "Use the complement rule.",
        "Count the favorable outcomes.", "Divide by the total number of outcomes.",
        "Apply the formula from the textbook.", "Check the answer by plugging back in.",
        "Multiply the rates.", "Combine like terms.", f"Plug in {n} for the given value.",
        f"Multiply {n} by {m} to get {n * m}.", f"Subtract {m} from both sides.", f"So the total is {n + m}.",
        f"Divide {n * m} by {m}.", f"There are {m} cases to consider.", f"Take {n} as the starting point.",
    ], r.randint(2, 6))
    lines = "\n".join(f"Step {i + 1}: {s}" for i, s in enumerate(steps))
    return f"{lines}\nFinal answer: {final}"


def grading(r: R, pr: Problem | None = None) -> tuple[str, Problem]:
    pr = pr or problem(r)
    sol = student_solution(r, pr)
    rub = r.pick(_RUBRICS)
    forms = [
        f"Grade this student's solution.\n\nProblem: {pr.text}\n\nSolution:\n{sol}\n\nRubric: {rub}",
        f"I'm a grader for an intro course. For each criterion in the rubric, tell me if the solution meets it and give a score.\n\nRubric: {rub}\n\nProblem: {pr.text}\n{sol}",
        f"Here is a problem and an answer. Is the answer correct? Explain any mistakes.\n\n{pr.text}\n\n{sol}",
        f"I'm a TA. Using this rubric:\n{rub}\n\nhow many points would you give this?\n\nProblem: {pr.text}\n{sol}",
    ]
    return r.pick(forms), pr
