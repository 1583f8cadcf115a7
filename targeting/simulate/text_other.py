"""Everything else: writing, email, chat, general knowledge, translation, advice, recipes,
travel, summaries of pasted text."""

from __future__ import annotations

from . import text_common as C
from .rand import R

TOPICS = ["email", "writing", "knowledge", "translation", "advice", "recipes", "travel", "summary",
          "chat", "rewrite", "shopping", "health", "career", "creative"]
TOPIC_WEIGHTS = [10, 8, 12, 5, 7, 6, 6, 7, 5, 7, 3, 4, 5, 6]

_EMAIL_TO = ["my landlord", "my boss", "a client", "my professor", "HR", "a recruiter", "my team",
             "a supplier", "the school", "my neighbor", "customer support", "a former colleague",
             "the city council", "my kid's teacher", "an angry customer"]
_EMAIL_WHY = [
    "asking for a raise", "complaining about the broken heating", "asking for an extension on my assignment",
    "declining a job offer politely", "following up on an unpaid invoice", "requesting a day off on {day}",
    "apologizing for missing the meeting", "asking for a refund for order {order}", "introducing myself",
    "thanking them for their help with the move", "pushing back on an unrealistic deadline",
    "announcing that I'm leaving the company", "asking for a reference letter", "rescheduling our call to {day}",
    "explaining why the delivery is late", "negotiating a lower price", "asking about the status of my application",
]
_TONE = ["polite but firm", "friendly", "formal", "short", "warm", "professional", "not too pushy",
         "apologetic", "confident", "casual"]
_WRITE_WHAT = [
    "a LinkedIn post about {t}", "a cover letter for a {job} position", "a toast for my sister's wedding",
    "a product description for a {product}", "a short bio for my website", "a tweet announcing {t}",
    "an Instagram caption for a photo of {place}", "a speech for my dad's 60th birthday",
    "a README intro for my side project about {t}", "a blog post outline on {t}",
    "a newsletter intro for {company}", "an apology message to a friend", "a eulogy for my grandmother",
    "a slogan for {company}", "a job ad for a {job}", "an 'about us' page for {company}",
]
_T = ["remote work", "climate change", "my new startup", "learning to code at 40", "burnout", "AI in healthcare",
      "our product launch", "sustainable fashion", "the four-day work week", "urban gardening", "running a marathon",
      "sourdough baking", "personal finance for students", "electric cars", "mental health at work"]
_JOBS = ["data analyst", "nurse", "project manager", "junior developer", "marketing coordinator", "teacher",
         "barista", "UX designer", "accountant", "customer success manager"]

_KNOW = [
    "Why is the sky blue?", "How do vaccines work?", "What caused the fall of the Roman Empire?",
    "How does a refrigerator work?", "What's the difference between a virus and a bacterium?",
    "Who was {person}?", "What is {concept}?", "How does {thing} work?", "When was {event}?",
    "Why do cats purr?", "What's the tallest mountain in {region}?", "How far is the moon?",
    "Explain {concept} in simple terms.", "What are the main causes of inflation?",
    "Is it true that we only use 10% of our brain?", "How do airplanes stay in the air?",
    "What's the capital of {country} and what is it known for?", "How were the pyramids built?",
    "What happened in {year}?", "Why do we have leap years?", "What's the difference between {a} and {b}?",
    "How do I know if an egg is still good?", "Why does bread go stale?", "How do noise cancelling headphones work?",
]
_PEOPLE = ["Ada Lovelace", "Nikola Tesla", "Frida Kahlo", "Genghis Khan", "Marie Curie", "Alan Turing",
           "Simón Bolívar", "Hypatia", "Mansa Musa", "Ibn Battuta", "Rosalind Franklin", "Napoleon"]
_CONC = ["blockchain", "quantum computing", "the stock market", "inflation", "photosynthesis", "black holes",
         "the immune system", "machine learning", "compound interest", "the electoral college", "CRISPR",
         "GDP", "plate tectonics", "the placebo effect", "supply and demand", "nuclear fusion"]
_THINGS = ["GPS", "the internet", "a nuclear reactor", "an electric motor", "a credit score", "Wi-Fi",
           "a microwave", "the human heart", "a solar panel", "a mortgage", "the stock exchange"]
_EVENTS = ["the Berlin Wall fell", "the first moon landing", "the printing press invented",
           "the Magna Carta signed", "the Suez Canal opened", "World War I started"]
_PAIRS = [("weather", "climate"), ("affect", "effect"), ("a latte", "a cappuccino"), ("stocks", "bonds"),
          ("a crocodile", "an alligator"), ("empathy", "sympathy"), ("ETFs", "mutual funds"),
          ("baking soda", "baking powder"), ("a Roth IRA", "a traditional IRA"), ("jam", "jelly")]
_COUNTRY = ["Kazakhstan", "Australia", "Canada", "Brazil", "Nigeria", "Mongolia", "Portugal", "Vietnam",
            "Bolivia", "New Zealand", "Morocco", "Finland"]

_SENTS = [
    "Let's meet tomorrow at the usual place.", "The package will arrive on Thursday.",
    "Thank you for your patience while we fix the issue.", "I'm sorry, I don't understand.",
    "Where is the nearest train station?", "Our office will be closed during the holidays.",
    "Could you send me the contract by Friday?", "The meeting has been moved to next week.",
    "Happy birthday! I hope all your wishes come true.", "Please keep your receipt for returns.",
    "The price includes breakfast and free Wi-Fi.", "We look forward to working with you.",
    "I would like to book a table for two.", "Can you recommend a good restaurant nearby?",
]
_ADVICE = [
    "My roommate never cleans up. How do I bring it up without a fight?",
    "I got two job offers, one pays more and the other has better growth. How do I decide?",
    "How do I tell my boss I'm overwhelmed?", "I keep procrastinating. Any practical tips?",
    "My {rel} and I keep arguing about money. What can we do?",
    "Should I pay off my student loans or invest first? I make about {money} a year.",
    "How do I make friends in a new city at {age}?", "I have a job interview for a {job} role on {day}. How should I prepare?",
    "Is it rude to leave a party early without saying goodbye?", "How can I get better sleep? I wake up at 3am every night.",
    "I want to switch careers into {job} at {age}. Is it too late?", "How do I say no to extra work without looking lazy?",
    "My dog is scared of thunderstorms. What can I do?", "How do I ask for feedback from my manager?",
    "What's a reasonable budget for a first apartment if I earn {money} a month?",
    "Help me articulate why I deserve a promotion. I've been a {job} for {age} months.",
    "Act as an expert career coach: should I take a pay cut to become a {job}?",
    "I can't articulate what's bothering me about my job. Can you ask me questions to figure it out?",
]
_RELS = ["partner", "brother", "mom", "best friend", "husband", "wife", "sister", "dad"]
_INGR = ["chicken thighs", "chickpeas", "spinach", "leftover rice", "eggs", "feta", "sweet potatoes", "tofu",
         "ground beef", "lentils", "mushrooms", "zucchini", "salmon", "canned tomatoes", "coconut milk", "bacon"]
_DIET = ["vegetarian", "gluten-free", "low carb", "dairy-free", "high protein", "kid-friendly", "vegan", "cheap"]
_DISH = ["lasagna", "pad thai", "banana bread", "chili", "paella", "ramen", "shakshuka", "pancakes", "curry",
         "risotto", "tacos", "brownies", "falafel", "apple pie"]
_INTEREST = ["food", "museums", "hiking", "nightlife", "history", "architecture", "beaches", "coffee shops",
             "markets", "kids' activities", "street art", "wine"]

_PARA = {
    "meeting": ["We reviewed the Q{q} roadmap and agreed to push the mobile release by two weeks.",
                "{name} raised concerns about the support backlog, which grew {n}% since last month.",
                "Budget for the offsite was approved, capped at {money}.",
                "The data migration is blocked on the vendor's API limits.",
                "Action items: {name} to draft the hiring plan, {name2} to follow up with legal by {day}.",
                "Marketing wants a decision on the pricing page copy before the end of the month.",
                "We spent most of the hour on the incident from last {day} and the postmortem timeline."],
    "article": ["City officials announced a new plan to expand bike lanes across {city} over the next {n} years.",
                "Critics argue the budget of {money} million is too small for the scale of the project.",
                "Supporters point to similar programs in {city2}, where cycling rose by {n}% in three years.",
                "Local businesses are split: some fear losing parking, others expect more foot traffic.",
                "The council will vote on the proposal next month after a public consultation.",
                "Researchers at a local university found that commute times barely changed.",
                "The plan also includes new crossings near schools and better lighting on the main routes."],
    "review": ["I bought the {product} three weeks ago and honestly it's been a mixed experience.",
               "Setup was easy and it looks great on my desk.", "Battery life is way shorter than advertised.",
               "Customer service took {n} days to reply and then just sent a template.",
               "For the price ({money}) I expected better build quality.", "Would I buy it again? Probably not.",
               "The app keeps disconnecting, which is super annoying."],
    "report": ["Revenue for the period was {money}K, up {n}% year over year.",
               "Churn increased slightly among small business customers.",
               "The {city} office exceeded its target for the second quarter in a row.",
               "Operating costs rose due to higher cloud spend and two new hires.",
               "We expect growth to slow in Q{q} as the promotional pricing ends.",
               "Customer satisfaction scores held steady at {n2} out of 10."],
}


def paragraph(r: R, kind: str | None = None, k: tuple[int, int] = (3, 7)) -> str:
    kind = kind or r.pick(list(_PARA))
    n1, n2 = C.two_names(r)
    c1, c2 = C.two_cities(r)
    sents = r.some(_PARA[kind], *k)
    return " ".join(s.format(name=n1, name2=n2, city=c1, city2=c2, n=r.randint(3, 40), n2=r.randint(6, 9),
                             money=r.randint(12, 900), q=r.randint(1, 4), day=r.pick(C.WEEKDAYS),
                             product=r.pick(C.PRODUCTS)) for s in sents)


def _f(r: R, s: str) -> str:
    return s.format(day=r.pick(C.WEEKDAYS), order=C.order_no(r), person=r.pick(_PEOPLE), concept=r.pick(_CONC),
                    thing=r.pick(_THINGS), event=r.pick(_EVENTS), region=r.pick(["Africa", "Europe", "South America", "Japan"]),
                    country=r.pick(_COUNTRY), year=r.randint(1700, 2005), a=(p := r.pick(_PAIRS))[0], b=p[1],
                    rel=r.pick(_RELS), money=C.money(r, 1500, 120000, "$"), age=r.randint(24, 58),
                    job=r.pick(_JOBS), t=r.pick(_T), product=r.pick(C.PRODUCTS), place=C.city(r),
                    company=r.pick(C.COMPANIES))


def make(r: R, topic: str | None = None) -> str:
    topic = topic or r.wpick(TOPICS, TOPIC_WEIGHTS)
    if topic == "email":
        to, why, tone = r.pick(_EMAIL_TO), _f(r, r.pick(_EMAIL_WHY)), r.pick(_TONE)
        return r.pick([
            f"Write an email to {to} {why}. Keep it {tone}.",
            f"Can you help me write a {tone} email to {to}? I'm {why}.",
            f"draft an email to {to} {why}",
            f"I need to email {to}. Basically I'm {why}. Make it {tone}, max {r.randint(80, 250)} words.",
            f"Reply to this email ({tone}), saying I can't make it:\n\n\"Hi {C.first(r)}, are you free on {r.pick(C.WEEKDAYS)} to go over the {r.pick(['budget', 'proposal', 'slides', 'contract'])}? Best, {C.first(r)}\"",
        ])
    if topic == "writing":
        what = _f(r, r.pick(_WRITE_WHAT))
        return r.pick([f"Write {what}.", f"Help me write {what}. {r.pick(['Make it funny.', 'Keep it under 150 words.', 'Not too cheesy please.', ''])}".strip(),
                       f"can you write {what}", f"I need {what}, {r.pick(_TONE)} tone."])
    if topic == "knowledge":
        return _f(r, r.pick(_KNOW))
    if topic == "translation":
        lang = r.pick(C.LANG_NAMES)
        s = r.pick(_SENTS)
        return r.pick([f"Translate to {lang}: {s}", f"How do you say \"{s}\" in {lang}?",
                       f"Translate this into {lang}, keep it {r.pick(_TONE)}:\n\n{paragraph(r, k=(2, 3))}",
                       f"what does \"{s}\" sound like in {lang}, formal and informal"])
    if topic == "advice":
        return _f(r, r.pick(_ADVICE))
    if topic == "recipes":
        ing = r.some(_INGR, 2, 4)
        return r.pick([
            f"I have {', '.join(ing)}. What can I make for dinner?",
            f"Give me a {r.pick(_DIET)} {r.pick(_DISH)} recipe for {r.randint(2, 8)} people.",
            f"How do I make {r.pick(_DISH)} without an oven?", f"What can I substitute for {r.pick(_INGR)} in {r.pick(_DISH)}?",
            f"Plan a week of {r.pick(_DIET)} dinners, budget {C.money(r, 40, 150, '$')}.",
            f"my {r.pick(_DISH)} always comes out {r.pick(['dry', 'too salty', 'soggy', 'bland'])}, what am i doing wrong",
        ])
    if topic == "travel":
        c = C.city(r)
        return r.pick([
            f"Plan a {r.randint(2, 7)}-day itinerary in {c}. I like {', '.join(r.some(_INTEREST, 1, 3))}.",
            f"Is {r.pick(C.MONTHS)} a good time to visit {c}?", f"What should I pack for a week in {c} in {r.pick(C.MONTHS)}?",
            f"Best way to get from {c} to {C.city(r)} on a budget?",
            f"We're a family of {r.randint(3, 6)} going to {c}. What are must-sees that aren't tourist traps?",
            f"Weekend trip ideas within 3 hours of {c}?",
        ])
    if topic == "summary":
        kind = r.pick(list(_PARA))
        text = paragraph(r, kind, (4, 7))
        if r.maybe(0.3):
            text += "\n\n" + paragraph(r, kind, (3, 5))
        return r.pick([f"Summarize this:\n\n{text}", f"TL;DR please:\n{text}",
                       f"Can you summarize this in {r.randint(2, 5)} bullet points?\n\n\"{text}\"",
                       f"{text}\n\nsummarize the above for my boss",
                       f"Pull out the action items from these notes:\n\n{paragraph(r, 'meeting', (4, 7))}"])
    if topic == "chat":
        return r.pick(["hi", "hello, how are you?", f"tell me a joke about {r.pick(['cats', 'programmers', 'accountants', 'pirates', 'coffee'])}",
                       "I'm bored. Entertain me.", "what's your favorite book?", "Good morning! Any motivational quote for today?",
                       "can you talk like a pirate for the rest of this chat", "What should I name my new {pet}?".format(pet=r.pick(['puppy', 'kitten', 'goldfish', 'plant'])),
                       "Let's play 20 questions.", "Give me a random fun fact.", "i had a rough day", "Would you rather fight one horse-sized duck or 100 duck-sized horses?"])
    if topic == "rewrite":
        text = paragraph(r, k=(2, 4))
        return r.pick([f"Make this sound more professional:\n\n{text}", f"Rewrite this to be shorter:\n{text}",
                       f"Fix the grammar: {text}", f"Can you make this friendlier?\n\n{text}",
                       f"Rewrite for a {r.randint(8, 14)}-year-old:\n{text}"])
    if topic == "shopping":
        p = r.pick(C.PRODUCTS)
        return r.pick([f"What should I look for when buying a {p}?", f"Is a {C.money(r, 40, 900, '$')} {p} worth it?",
                       f"Gift ideas for my {r.pick(_RELS)} who likes {r.pick(_INTEREST)}, budget {C.money(r, 20, 200, '$')}",
                       f"Compare two {p}s for me: one at {C.money(r, 30, 300, '$')} and one at {C.money(r, 30, 300, '$')}. Which features matter?"])
    if topic == "health":
        return r.pick([f"Make me a {r.randint(3, 5)}-day workout plan for a beginner.", "How much water should I drink a day?",
                       f"I want to run a 10k in {r.randint(6, 16)} weeks. Training plan?", "Is intermittent fasting healthy?",
                       "What are good stretches for lower back pain from sitting all day?", "How many calories are in a banana?"])
    if topic == "career":
        return _f(r, r.pick(["How do I negotiate salary for a {job} role?", "Review my resume summary: 'Motivated {job} with 5 years of experience in fast-paced teams.'",
                             "What questions should I ask at the end of an interview?", "How do I explain a 2-year gap in my CV?",
                             "Write 3 bullet points for my resume about managing a team of {age}.",
                             "Is it a good idea to become a {job}?", "How to write a resignation letter?"]))
    # creative
    return _f(r, r.pick([
        "Write a short poem about {t}.", "Write a haiku about {place}.", "Tell me a bedtime story about a dragon who is afraid of {thing}.",
        "Write a limerick about a {job}.", "Give me 10 names for a {product} brand.", "Write a short sci-fi story set in {place}.",
        "Come up with a plot twist for my novel about {t}.", "Write song lyrics about {t} in the style of a sea shanty.",
        "Describe {place} at sunset in three sentences.", "Write a funny dialogue between a cat and a {job}.",
        "Imagine you are a tour guide in {place}. Describe the first stop.", "Imagine a world without {thing}. What changes?",
    ]))


_OFOLLOW = [
    "make it shorter", "more formal please", "can you make it sound less like AI", "add a line about {thing}",
    "perfect, now translate it to {lang}", "try again but funnier", "ok but what about {thing}?",
    "thanks! can you give me 3 more options", "too long", "what if I'm in {city} instead?",
    "remove the last paragraph", "can you put that in a table", "why?", "and for a vegetarian?",
    "Now make a version for my {rel}.", "hmm, not quite. Keep the first part and redo the ending.",
]


def followup(r: R) -> str:
    return r.pick(_OFOLLOW).format(thing=r.pick(_THINGS + _T), lang=r.pick(C.LANG_NAMES), city=C.city(r),
                                   rel=r.pick(_RELS))
