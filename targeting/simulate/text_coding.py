"""Agentic-coding prompts: repository tasks, failing tests, stack traces, diffs, CI logs.

Snippets, traces and logs are composed from per-language templates and identifiers drawn from
the repository's domain, so the same user keeps talking about the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .rand import R


@dataclass(frozen=True)
class Repo:
    desc: str
    lang: str
    nouns: tuple[str, ...]
    root: str


_CONTEXTS = [
    ("a Django REST API for a {biz} platform", "Python", ["booking", "invoice", "customer", "payout"]),
    ("a FastAPI service that ingests {biz} events", "Python", ["event", "batch", "consumer", "schema"]),
    ("an Airflow data pipeline for {biz} reporting", "Python", ["partition", "extract", "report", "table"]),
    ("a PyTorch training repo", "Python", ["dataset", "trainer", "checkpoint", "tokenizer"]),
    ("a Flask admin tool for {biz}", "Python", ["user", "role", "audit", "export"]),
    ("a React + TypeScript dashboard for {biz}", "TypeScript", ["chart", "filter", "widget", "session"]),
    ("a Next.js storefront", "TypeScript", ["cart", "product", "checkout", "coupon"]),
    ("a Node.js Express API for {biz}", "TypeScript", ["user", "token", "webhook", "order"]),
    ("a Go microservice that handles {biz} webhooks", "Go", ["webhook", "signature", "retry", "queue"]),
    ("a Go Kubernetes operator", "Go", ["reconciler", "replica", "config", "lease"]),
    ("a Rust CLI that parses log files", "Rust", ["record", "parser", "token", "span"]),
    ("a Rust web server built on axum", "Rust", ["handler", "route", "session", "pool"]),
    ("a Spring Boot billing service", "Java", ["invoice", "payment", "ledger", "account"]),
    ("a Java batch job for {biz}", "Java", ["job", "record", "report", "chunk"]),
    ("an Android app for {biz}", "Kotlin", ["feed", "profile", "sync", "cache"]),
    ("a Rails monolith for {biz}", "Ruby", ["subscription", "account", "mailer", "plan"]),
    ("a Laravel admin panel for {biz}", "PHP", ["customer", "invoice", "report", "role"]),
    ("a C++ game engine", "C++", ["entity", "mesh", "collider", "scene"]),
    ("a C++ trading gateway", "C++", ["order", "book", "quote", "session"]),
    ("a .NET inventory system", "C#", ["stock", "warehouse", "item", "transfer"]),
]
_BIZ = ["pet grooming", "car rental", "food delivery", "dental clinic", "coworking", "event ticketing",
        "freight", "online course", "real estate", "fitness studio", "insurance claims", "hotel"]
EXT = {"Python": "py", "TypeScript": "ts", "Go": "go", "Rust": "rs", "Java": "java", "Kotlin": "kt",
       "Ruby": "rb", "PHP": "php", "C++": "cpp", "C#": "cs"}
FENCE = {"Python": "python", "TypeScript": "ts", "Go": "go", "Rust": "rust", "Java": "java",
         "Kotlin": "kotlin", "Ruby": "ruby", "PHP": "php", "C++": "cpp", "C#": "csharp"}
LANGS = list(EXT)
COMMENT = {"Python": "#", "Ruby": "#"}
TEST_FW = {"Python": "pytest", "TypeScript": "jest", "Go": "the testing package", "Rust": "#[test]",
           "Java": "JUnit 5", "Kotlin": "JUnit", "Ruby": "RSpec", "PHP": "PHPUnit", "C++": "GoogleTest",
           "C#": "xUnit"}


def plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou" else noun + "s"


def _noart(desc: str) -> str:
    for a in ("a ", "an "):
        if desc.startswith(a):
            return desc[len(a):]
    return desc


def repo(r: R, lang: str | None = None) -> Repo:
    opts = [c for c in _CONTEXTS if lang is None or c[1] == lang] or _CONTEXTS
    desc, lg, nouns = r.pick(opts)
    root = r.pick(["app", "src", "services", "pkg", "lib", "backend", "core"])
    return Repo(desc.format(biz=r.pick(_BIZ)), lg, tuple(nouns), root)


def _ids(r: R, rp: Repo) -> dict:
    noun = r.pick(rp.nouns)
    verb = r.pick(["calculate", "load", "parse", "sync", "validate", "apply", "build", "merge",
                   "fetch", "normalize", "schedule", "render", "resolve", "export"])
    field = r.pick(["amount", "status", "created_at", "items", "owner_id", "total", "name", "retries",
                    "expires_at", "quantity", "price", "tags", "config", "timeout"])
    snake = f"{verb}_{noun}"
    camel = verb + noun.title()
    ext = EXT[rp.lang]
    if rp.lang in ("Java", "Kotlin", "C#"):
        path = f"{rp.root}/{noun}/{noun.title()}Service.{ext}"
    elif rp.lang == "TypeScript":
        path = f"{rp.root}/{noun}/{camel}.{ext}"
    else:
        path = f"{rp.root}/{noun}/{r.pick([noun, 'service', 'handlers', 'utils', 'models'])}.{ext}"
    return {"noun": noun, "Noun": noun.title(), "verb": verb, "field": field, "fn": snake,
            "camel": camel, "Camel": camel[0].upper() + camel[1:], "path": path,
            "line": r.randint(12, 480), "n": r.randint(2, 50), "m": r.randint(2, 9)}


# ----------------------------------------------------------------------------- snippets
SNIPPETS = {
    "Python": [
        "def {fn}({noun}s, limit=None):\n    total = 0\n    for i in range(1, len({noun}s)):\n        total += {noun}s[i].{field}\n    return total / len({noun}s)",
        "def {fn}(self, {noun}_id, cache={{}}):\n    if {noun}_id in cache:\n        return cache[{noun}_id]\n    row = self.db.get({noun}_id)\n    cache[{noun}_id] = row['{field}']\n    return cache[{noun}_id]",
        "class {Noun}Service:\n    def __init__(self, repo):\n        self.repo = repo\n\n    def {fn}(self, payload: dict) -> dict:\n        data = payload.get('data')\n        data['{field}'] = int(data['{field}'])\n        return self.repo.save(data)",
        "async def {fn}(session, ids):\n    results = []\n    for i in ids:\n        resp = await session.get(f'/api/{noun}s/{{i}}')\n        results.append(resp.json())\n    return results",
        "def {fn}(df):\n    df = df[df['{field}'] > {n}]\n    df['{noun}_rank'] = df.groupby('{noun}')['{field}'].rank()\n    return df.sort_values('{noun}_rank').head({m})",
    ],
    "TypeScript": [
        "export function {camel}({noun}s: {Noun}[]): number {{\n  let total = 0;\n  for (let i = 0; i <= {noun}s.length; i++) {{\n    total += {noun}s[i].{field};\n  }}\n  return total;\n}}",
        "export async function {camel}(id: string) {{\n  const res = await fetch(`/api/{noun}s/${{id}}`);\n  const data = res.json();\n  return data.{field}.map((x: any) => x.id);\n}}",
        "const use{Noun} = (id: string) => {{\n  const [{noun}, set{Noun}] = useState<{Noun} | null>(null);\n  useEffect(() => {{\n    load{Noun}(id).then(set{Noun});\n  }});\n  return {noun};\n}};",
        "router.post('/{noun}s', async (req, res) => {{\n  const {{ {field} }} = req.body;\n  const created = await {Noun}.create({{ {field} }});\n  res.json(created);\n}});",
    ],
    "Go": [
        "func {Camel}(items []{Noun}) int {{\n\ttotal := 0\n\tfor i := 0; i <= len(items); i++ {{\n\t\ttotal += items[i].{Noun}Count\n\t}}\n\treturn total\n}}",
        "func (s *Server) {Camel}(w http.ResponseWriter, r *http.Request) {{\n\tvar req {Noun}Request\n\tjson.NewDecoder(r.Body).Decode(&req)\n\tgo s.store.Save(req)\n\tw.WriteHeader(http.StatusOK)\n}}",
        "func {Camel}(ctx context.Context, ch <-chan {Noun}) error {{\n\tfor {{\n\t\tselect {{\n\t\tcase x := <-ch:\n\t\t\tprocess(x)\n\t\t}}\n\t}}\n}}",
    ],
    "Rust": [
        "fn {fn}({noun}s: &mut Vec<{Noun}>) {{\n    for n in {noun}s.iter() {{\n        if n.{field} > {n} {{\n            {noun}s.push(n.clone());\n        }}\n    }}\n}}",
        "pub fn {fn}(input: &str) -> {Noun} {{\n    let parts: Vec<&str> = input.split(',').collect();\n    {Noun} {{ {field}: parts[1].parse().unwrap() }}\n}}",
        "impl {Noun}Store {{\n    pub fn get(&self, id: u64) -> &{Noun} {{\n        self.map.get(&id).unwrap()\n    }}\n}}",
    ],
    "Java": [
        "public BigDecimal {camel}(List<{Noun}> {noun}s) {{\n    BigDecimal total = BigDecimal.ZERO;\n    for ({Noun} x : {noun}s) {{\n        total.add(x.get{Noun}Amount());\n    }}\n    return total;\n}}",
        "public {Noun} find{Noun}(Long id) {{\n    {Noun} e = repository.findById(id).get();\n    if (e.getStatus() == \"ACTIVE\") {{\n        return e;\n    }}\n    return null;\n}}",
        "@Scheduled(fixedRate = {n}000)\npublic void {camel}() {{\n    List<{Noun}> pending = repo.findPending();\n    pending.forEach(this::process);\n}}",
    ],
    "Kotlin": [
        "fun {camel}({noun}s: List<{Noun}>): Int {{\n    var total = 0\n    {noun}s.forEach {{ total += it.{field}!! }}\n    return total\n}}",
        "class {Noun}ViewModel : ViewModel() {{\n    lateinit var repo: {Noun}Repository\n    fun {camel}() = viewModelScope.launch {{ repo.refresh() }}\n}}",
    ],
    "Ruby": [
        "def {fn}\n  @{noun}s = {Noun}.where(status: params[:status])\n  @{noun}s.each {{ |x| x.update({field}: x.{field} + 1) }}\n  render json: @{noun}s\nend",
        "class {Noun} < ApplicationRecord\n  has_many :items\n  def total\n    items.map(&:{field}).sum\n  end\nend",
    ],
    "PHP": [
        "public function {camel}(Request $request)\n{{\n    ${noun} = {Noun}::find($request->id);\n    ${noun}->{field} = $request->input('{field}');\n    ${noun}->save();\n    return response()->json(${noun});\n}}",
        "function {fn}(array ${noun}s): float {{\n    $sum = 0;\n    foreach (${noun}s as $x) {{ $sum += $x['{field}']; }}\n    return $sum / count(${noun}s);\n}}",
    ],
    "C++": [
        "void {Camel}(std::vector<{Noun}>& v) {{\n    for (auto it = v.begin(); it != v.end(); ++it) {{\n        if (it->{field} < {n}) v.erase(it);\n    }}\n}}",
        "{Noun}* {Camel}(int id) {{\n    {Noun} local = cache[id];\n    return &local;\n}}",
    ],
    "C#": [
        "public async Task<{Noun}> {Camel}Async(int id)\n{{\n    var {noun} = await _db.{Noun}s.FindAsync(id);\n    return {noun}.{Noun}Details;\n}}",
        "public decimal {Camel}(IEnumerable<{Noun}> items)\n{{\n    return items.Where(x => x.Quantity > {n}).Sum(x => x.Price * x.Quantity);\n}}",
    ],
}


def snippet(r: R, rp: Repo, ids: dict | None = None) -> str:
    ids = ids or _ids(r, rp)
    return r.pick(SNIPPETS[rp.lang]).format(**ids)


# ----------------------------------------------------------------------------- errors
def trace(r: R, rp: Repo, ids: dict) -> str:
    L, d = rp.lang, ids
    if L == "Python":
        err = r.pick([f"KeyError: '{d['field']}'", f"TypeError: unsupported operand type(s) for +=: 'int' and 'NoneType'",
                      f"AttributeError: 'NoneType' object has no attribute '{d['field']}'",
                      "ZeroDivisionError: division by zero", f"ValueError: invalid literal for int() with base 10: ''",
                      f"sqlalchemy.exc.IntegrityError: duplicate key value violates unique constraint \"{d['noun']}s_pkey\""])
        return (f"Traceback (most recent call last):\n  File \"/srv/{d['path']}\", line {d['line']}, in {d['fn']}\n"
                f"    result = self._{d['verb']}(row)\n  File \"/srv/{rp.root}/{d['noun']}/utils.py\", line {d['line'] // 3}, in _{d['verb']}\n"
                f"    return row['{d['field']}'] + offset\n{err}")
    if L == "TypeScript":
        return (f"TypeError: Cannot read properties of undefined (reading '{d['field']}')\n    at {d['camel']} ({d['path']}:{d['line']}:17)\n"
                f"    at processTicksAndRejections (node:internal/process/task_queues:95:5)\n    at async {d['Noun']}Controller.handle ({rp.root}/{d['noun']}/controller.ts:{d['line'] // 2}:9)")
    if L == "Go":
        return (f"panic: runtime error: index out of range [{d['m']}] with length {d['m']}\n\ngoroutine {d['n']} [running]:\n"
                f"main.{d['Camel']}(...)\n\t/app/{d['path']}:{d['line']} +0x1d\nmain.main()\n\t/app/cmd/server/main.go:{d['line'] // 4} +0x85\nexit status 2")
    if L == "Rust":
        return r.pick([
            f"error[E0502]: cannot borrow `{d['noun']}s` as mutable because it is also borrowed as immutable\n --> {d['path']}:{d['line']}:13\n  |\n{d['line'] - 1} |     for n in {d['noun']}s.iter() {{\n  |              ------------- immutable borrow occurs here",
            f"thread 'main' panicked at {d['path']}:{d['line']}:42:\ncalled `Result::unwrap()` on an `Err` value: ParseIntError {{ kind: InvalidDigit }}\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            f"error[E0308]: mismatched types\n --> {d['path']}:{d['line']}:9\n  |\n  = note: expected struct `{d['Noun']}`\n             found enum `Option<{d['Noun']}>`"])
    if L in ("Java", "Kotlin"):
        exc = r.pick(["java.lang.NullPointerException: Cannot invoke \"" + d['Noun'] + ".getStatus()\" because \"e\" is null",
                      "java.util.NoSuchElementException: No value present",
                      "kotlin.UninitializedPropertyAccessException: lateinit property repo has not been initialized",
                      "java.util.ConcurrentModificationException"])
        pkg = f"com.{r.pick(['acme', 'northwind', 'kestrel', 'lumen'])}.{d['noun']}"
        return (f"Exception in thread \"main\" {exc}\n\tat {pkg}.{d['Noun']}Service.{d['camel']}({d['Noun']}Service.{EXT[L]}:{d['line']})\n"
                f"\tat {pkg}.{d['Noun']}Controller.handle({d['Noun']}Controller.{EXT[L]}:{d['line'] // 3})\n\tat java.base/java.lang.Thread.run(Thread.java:1583)")
    if L == "Ruby":
        return (f"NoMethodError: undefined method `{d['field']}' for nil:NilClass\n  app/controllers/{d['noun']}s_controller.rb:{d['line']}:in `{d['fn']}'\n"
                f"  actionpack (7.1.3) lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'")
    if L == "PHP":
        return (f"PHP Fatal error:  Uncaught TypeError: {d['fn']}(): Argument #1 (${d['noun']}s) must be of type array, null given, "
                f"called in /var/www/{d['path']} on line {d['line']}")
    if L == "C++":
        return r.pick([f"Segmentation fault (core dumped)\n#0  0x000055d1 in {d['Camel']} (v=...) at {d['path']}:{d['line']}\n#1  0x000055d2 in main () at src/main.cpp:{d['line'] // 5}",
                       f"{d['path']}:{d['line']}:5: error: no matching function for call to '{d['Camel']}(const std::vector<{d['Noun']}>&)'\n  note: candidate: 'void {d['Camel']}(std::vector<{d['Noun']}>&)'"])
    return (f"System.NullReferenceException: Object reference not set to an instance of an object.\n   at {d['Noun']}s.{d['Noun']}Service.{d['Camel']}Async(Int32 id) in /src/{d['path']}:line {d['line']}")


def test_output(r: R, rp: Repo, ids: dict) -> str:
    L, d = rp.lang, ids
    exp, got = d["m"], d["m"] + r.choice([-1, 1, 2])
    if L == "Python":
        return (f"=================================== FAILURES ===================================\n"
                f"____________________________ test_{d['fn']}_{r.pick(['empty', 'basic', 'rounding', 'duplicates', 'timezone'])} ____________________________\n\n"
                f"    def test_{d['fn']}():\n>       assert {d['fn']}(fixtures.{d['noun']}s) == {exp}\nE       assert {got} == {exp}\n\n"
                f"tests/test_{d['noun']}.py:{d['line'] // 4}: AssertionError\n=========================== short test summary info ============================\n"
                f"FAILED tests/test_{d['noun']}.py::test_{d['fn']} - assert {got} == {exp}\n{r.randint(1, 4)} failed, {r.randint(20, 400)} passed in {r.uniform(1, 40):.2f}s")
    if L == "TypeScript":
        return (f"FAIL {d['path'].replace('.ts', '.test.ts')}\n  ● {d['camel']} › {r.pick(['handles empty input', 'sums correctly', 'returns ids'])}\n\n"
                f"    expect(received).toBe(expected) // Object.is equality\n\n    Expected: {exp}\n    Received: {got}\n\n"
                f"Tests:       1 failed, {r.randint(10, 300)} passed, {r.randint(11, 301)} total")
    if L == "Go":
        return (f"--- FAIL: Test{d['Camel']} ({r.uniform(0, 2):.2f}s)\n    {d['noun']}_test.go:{d['line'] // 5}: got {got}, want {exp}\nFAIL\n"
                f"FAIL\tgithub.com/acme/{d['noun']}svc/{rp.root}/{d['noun']}\t{r.uniform(0.01, 3):.3f}s")
    if L == "Rust":
        return (f"---- tests::{d['fn']}_works stdout ----\nthread 'tests::{d['fn']}_works' panicked at {d['path']}:{d['line']}:9:\n"
                f"assertion `left == right` failed\n  left: {got}\n right: {exp}\n\nfailures:\n    tests::{d['fn']}_works\n\n"
                f"test result: FAILED. {r.randint(5, 80)} passed; 1 failed; 0 ignored")
    if L in ("Java", "Kotlin"):
        return (f"[ERROR] Tests run: {r.randint(5, 90)}, Failures: 1, Errors: 0, Skipped: 0\n[ERROR] {d['Noun']}ServiceTest.{d['camel']}ShouldWork:{d['line'] // 4} "
                f"expected: <{exp}> but was: <{got}>\n[INFO] BUILD FAILURE")
    if L == "C++":
        return (f"[ RUN      ] {d['Noun']}Test.{d['Camel']}\n{d['path'].replace('.cpp', '_test.cpp')}:{d['line'] // 3}: Failure\n"
                f"Expected equality of these values:\n  {d['Camel']}(input)\n    Which is: {got}\n  {exp}\n[  FAILED  ] {d['Noun']}Test.{d['Camel']} ({r.randint(0, 40)} ms)")
    if L == "C#":
        return (f"Failed {d['Noun']}s.Tests.{d['Noun']}ServiceTests.{d['Camel']}_ReturnsTotal [{r.randint(1, 90)} ms]\n  Error Message:\n"
                f"   Assert.Equal() Failure\nExpected: {exp}\nActual:   {got}")
    if L == "PHP":
        return (f"There was 1 failure:\n\n1) Tests\\{d['Noun']}Test::test{d['Camel']}\nFailed asserting that {got} matches expected {exp}.\n\n"
                f"/var/www/tests/{d['Noun']}Test.php:{d['line'] // 4}\n\nFAILURES!\nTests: {r.randint(5, 200)}, Assertions: {r.randint(10, 500)}, Failures: 1.")
    return f"1) {d['Noun']} {d['fn']} returns the total\n   Failure/Error: expect(result).to eq({exp})\n     expected: {exp}\n          got: {got}"


def ci_log(r: R, rp: Repo, ids: dict) -> str:
    d = ids
    kind = r.randint(0, 3)
    if kind == 0:
        body = test_output(r, rp, ids)
    elif kind == 1:
        body = r.pick([f"{d['path']}:{d['line']}:1: F401 [*] `os` imported but unused\n{d['path']}:{d['line'] + 7}:80: E501 Line too long (104 > 88)\nFound 2 errors.",
                       f"{d['path']}:{d['line']}: error: Incompatible return value type (got \"str | None\", expected \"str\")  [return-value]\nFound 1 error in 1 file (checked {r.randint(20, 300)} source files)",
                       f"{d['path']}:{d['line']}:7  error  '{d['field']}' is assigned a value but never used  @typescript-eslint/no-unused-vars\n\n✖ 1 problem (1 error, 0 warnings)"])
    elif kind == 2:
        body = (f"#12 [build 5/8] RUN pip install -r requirements.txt\n#12 {r.uniform(2, 30):.2f} ERROR: Could not find a version that satisfies the requirement "
                f"{r.pick(['numpy==1.19.5', 'psycopg2==2.8.6', 'tensorflow==2.4.1', 'cryptography==3.3.2'])}\n"
                "ERROR: failed to solve: process \"/bin/sh -c pip install -r requirements.txt\" did not complete successfully: exit code: 1")
    else:
        body = (f"Run actions/setup-node@v4\nError: Unable to resolve action `actions/setup-node@v4`, unable to find version\n"
                if r.maybe(0.3) else
                f"error: failed to run custom build command for `openssl-sys v0.9.{r.randint(60, 102)}`\n  Could not find directory of OpenSSL installation")
    job = r.pick(["test", "build", "lint", "unit-tests (3.11)", "e2e", "docker", "typecheck"])
    return f"Job `{job}` on branch `{r.pick(['main', 'feature/' + d['noun'], 'fix/' + d['fn'], 'release/' + str(d['m'])])}`:\n```\n{body}\n```"


def diff(r: R, rp: Repo, ids: dict) -> str:
    code = snippet(r, rp, ids).split("\n")
    i = r.randint(1, max(1, len(code) - 1))
    old = code[i]
    cm = COMMENT.get(rp.lang, "//")
    new = old.replace("<=", "<").replace("i = 1", "i = 0").replace("range(1,", "range(0,") if r.maybe(0.4) else old + r.pick(
        [f"  {cm} TODO", f"  {cm} fixme", f" {cm} handle empty input", ""])
    extra = r.pick(["", f"+    log.debug(\"{ids['verb']} done\")", f"+    {cm} retry once on failure",
                    f"+    {cm} NOTE: {ids['field']} can be missing here"])
    lines = [f"--- a/{ids['path']}", f"+++ b/{ids['path']}", f"@@ -{ids['line']},{len(code)} +{ids['line']},{len(code) + (1 if extra else 0)} @@"]
    for j, ln in enumerate(code):
        if j == i:
            lines.append("-" + ln)
            lines.append("+" + new)
            if extra:
                lines.append(extra)
        else:
            lines.append(" " + ln)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- tasks
TASK_TYPES = ["fix_test", "fix_trace", "refactor", "review", "ci", "feature", "write_tests", "explain",
              "performance", "upgrade", "repo_task"]
_FEATURES = ["retry with exponential backoff", "pagination", "rate limiting", "a --dry-run flag", "caching",
             "structured logging", "input validation", "CSV export", "soft delete", "an audit log",
             "a health check endpoint", "graceful shutdown", "feature flag support", "i18n for error messages"]
_REFACTOR = ["be more readable", "remove the duplication", "use early returns", "be async", "be testable",
             "use a dataclass", "avoid the global state", "use dependency injection", "split it into smaller functions",
             "be idiomatic", "handle errors properly instead of panicking/throwing"]
_UPGRADES = [("Django", "3.2", "5.0", "Python"), ("React", "17", "18", "TypeScript"), ("Spring Boot", "2.7", "3.2", "Java"),
             ("pydantic", "1.10", "2.5", "Python"), ("Next.js", "12", "14", "TypeScript"), ("tokio", "0.2", "1.35", "Rust"),
             ("Rails", "6.1", "7.1", "Ruby"), ("Laravel", "9", "11", "PHP"), ("Go", "1.19", "1.22", "Go"),
             ("Node", "16", "20", "TypeScript"), (".NET", "6", "8", "C#"), ("SQLAlchemy", "1.4", "2.0", "Python"),
             ("Kotlin", "1.8", "2.0", "Kotlin"), ("Boost", "1.74", "1.84", "C++"), ("serde", "1.0.150", "1.0.197", "Rust"),
             ("gin", "1.8", "1.9", "Go"), ("Hibernate", "5.6", "6.4", "Java"), ("Symfony", "5.4", "7.0", "PHP"),
             ("Entity Framework Core", "6", "8", "C#"), ("Sidekiq", "6", "7", "Ruby"), ("AGP", "7.4", "8.3", "Kotlin"),
             ("Qt", "5.15", "6.6", "C++")]


def _upgrade(r: R, lang: str) -> tuple[str, str, str, str]:
    return r.pick([u for u in _UPGRADES if u[3] == lang] or _UPGRADES)


_VERSIONS = {"Python": ["3.9", "3.10", "3.11", "3.12"], "TypeScript": ["5.2", "5.4"], "Go": ["1.21", "1.22"],
             "Rust": ["1.75", "1.78"], "Java": ["17", "21"], "Kotlin": ["1.9", "2.0"], "Ruby": ["3.2", "3.3"],
             "PHP": ["8.2", "8.3"], "C++": ["17", "20"], "C#": ["12"]}


def environment(r: R, rp: Repo) -> str:
    lines = [f"Language: {rp.lang} {r.pick(_VERSIONS[rp.lang])}",
             f"OS: {r.pick(['macOS 14', 'Ubuntu 22.04', 'Windows 11', 'Debian 12', 'WSL2'])}"]
    if r.maybe(0.5):
        lines.append(f"Repository: {_noart(rp.desc)}")
    return "\n".join(lines)


def task(r: R, rp: Repo, ttype: str | None = None, ids: dict | None = None, env: float = 0.0) -> str:
    if env and r.maybe(env):
        return f"{environment(r, rp)}\n\n{task(r, rp, ttype, ids)}"
    ids = ids or _ids(r, rp)
    ttype = ttype or r.wpick(TASK_TYPES, [12, 14, 9, 8, 8, 10, 7, 6, 5, 4, 12])
    L, fence = rp.lang, FENCE[rp.lang]
    code = lambda: f"```{fence}\n{snippet(r, rp, ids)}\n```"  # noqa: E731
    if ttype == "fix_test":
        return r.pick([
            f"This test started failing after my last change:\n```\n{test_output(r, rp, ids)}\n```\nHere's the function:\n{code()}\nWhat's wrong?",
            f"`test_{ids['fn']}` fails:\n```\n{test_output(r, rp, ids)}\n```\nfix it",
            f"Can you fix the failing test in {ids['path']}? Output:\n```\n{test_output(r, rp, ids)}\n```",
        ])
    if ttype == "fix_trace":
        return r.pick([
            f"Getting this when I call {ids['fn']}:\n```\n{trace(r, rp, ids)}\n```\n{r.pick(['Any idea?', 'How do I fix this?', 'what am I doing wrong', 'This only happens in prod.'])}",
            f"{code()}\n\nthrows\n```\n{trace(r, rp, ids)}\n```",
            f"Our {_noart(rp.desc)} crashes with:\n```\n{trace(r, rp, ids)}\n```\nIt happens {r.pick(['intermittently', 'on every request', 'only with large inputs', 'after the last deploy'])}. Find the root cause and suggest a fix.",
        ])
    if ttype == "refactor":
        return f"Refactor this {L} to {r.pick(_REFACTOR)}:\n{code()}" if r.maybe(0.7) else \
            f"{code()}\nCan you clean this up? It's part of {rp.desc}. Keep the behaviour the same."
    if ttype == "review":
        return r.pick([
            f"Review this diff and point out problems:\n```diff\n{diff(r, rp, ids)}\n```",
            f"Can you review my PR? It's supposed to fix the {ids['field']} bug.\n```diff\n{diff(r, rp, ids)}\n```",
            f"LGTM or not?\n```diff\n{diff(r, rp, ids)}\n```",
        ])
    if ttype == "ci":
        return f"{r.pick(['CI is red.', 'Our pipeline fails.', 'Build broke on CI but works locally.', 'GitHub Actions failing:'])}\n{ci_log(r, rp, ids)}\n{r.pick(['What do I change?', 'Fix please.', 'Why?', ''])}".strip()
    if ttype == "feature":
        return r.pick([
            f"In our {_noart(rp.desc)} ({L}), add {r.pick(_FEATURES)} to {ids['path']}. {r.pick(['Keep the public API unchanged.', 'Add tests.', 'Use the existing config module.', ''])}".strip(),
            f"How would I add {r.pick(_FEATURES)} to this?\n{code()}",
            f"I need {r.pick(_FEATURES)} in the {ids['noun']} module of {rp.desc}. Where should it go and what would the code look like?",
        ])
    if ttype == "write_tests":
        return f"Write unit tests for this{r.pick(['', ' using ' + TEST_FW[L], ' with good edge cases', ', aim for full branch coverage'])}:\n{code()}"
    if ttype == "explain":
        return r.pick([f"What does this do?\n{code()}", f"Explain this {L} code line by line:\n{code()}",
                       f"Is there a bug here?\n{code()}"])
    if ttype == "performance":
        return r.pick([f"This gets really slow with {ids['n']}k {plural(ids['noun'])}. How can I speed it up?\n{code()}",
                       f"Profile says {ids['fn']} is {r.randint(40, 90)}% of runtime. Ideas?\n{code()}"])
    if ttype == "upgrade":
        lib, a, b, _ = _upgrade(r, L)
        return f"We're upgrading {lib} from {a} to {b} in {rp.desc}. What breaks and how do I migrate {ids['path']}?"
    # repo_task: imperative agent-style task
    return r.pick([
        f"In {ids['path']}, {ids['fn']} doesn't handle an empty list. Fix it and add a regression test, then run the test suite.",
        f"Add {r.pick(_FEATURES)} to the {ids['noun']} module. Run the tests when you're done.",
        f"Rename `{ids['fn']}` to `{ids['verb']}_{ids['noun']}s` everywhere in the repo and update the call sites.",
        f"The {ids['noun']} endpoint returns 500 when `{ids['field']}` is missing. Find where and fix it.",
        f"Go through {rp.root}/{ids['noun']}/ and add type hints / types where they're missing.",
        f"Bump the {_upgrade(r, L)[0]} dependency and fix whatever breaks.",
        f"Find out why `make test` hangs on {ids['noun']}_test and fix it.",
        f"Look at the TODOs in {ids['path']} and implement the one about {ids['field']}.",
    ])


_CFOLLOW = [
    "still failing:\n```\n{trace}\n```", "can you also add tests for that?", "that broke another test",
    "explain why that works", "make it async", "ok now write a PR description for it",
    "can you do it without adding a dependency?", "what about the {noun} case?", "perfect, thanks",
    "same error, different line ({line})", "Now apply the same change to the {noun} module.",
    "hmm, the linter complains about that", "run the tests again", "revert that and try a different approach",
]


def followup(r: R, rp: Repo) -> str:
    ids = _ids(r, rp)
    return r.pick(_CFOLLOW).format(trace=trace(r, rp, ids), noun=ids["noun"], line=ids["line"])


# ----------------------------------------------------------------------------- agents
AGENT_PROMPTS = [
    "You are Forge, an AI pair programmer running in the user's terminal. You can call tools to read files, edit files and run shell commands. Always run the tests before you say you are done. Be concise.",
    "You are a coding assistant inside the Lattice IDE. Tools: read_file(path), write_file(path, content), run(cmd), search(query). Prefer small, reviewable diffs. Ask before deleting files.",
    "You are Tidepool Code, an autonomous software engineering agent. You operate on a git repository checked out at /workspace. Use the provided tools to inspect and modify code. Never push to remote.",
    "You are a helpful coding assistant. The user is working in a repository; you have access to shell, file read and file edit tools. Explain what you change.",
    "System: You are DevPilot. Available tools: list_dir, read_file, apply_patch, run_tests, grep. Follow the repository's style. Output a short summary at the end.",
    "You are an expert {lang} developer helping with code in the user's project. Use the tools to look at files rather than guessing.",
    "You are Orbit, an expert coding agent. Explore the relevant files, make a plan, implement the change and run the tests; iterate until they pass. When finished, summarize what you changed.",
]


def coding_tools(r: R, style: int | None = None) -> list[dict]:
    style = r.randint(0, 2) if style is None else style
    names = [("read_file", "write_file", "run_shell", "search_code"),
             ("view", "str_replace", "bash", "grep"),
             ("open_file", "apply_patch", "execute", "list_dir")][style]
    s = lambda t="string", dsc="": {"type": t, "description": dsc}  # noqa: E731
    return [
        {"name": names[0], "description": "Read a file from the repository.",
         "parameters": {"type": "object", "properties": {"path": s(dsc="Path relative to repo root")}, "required": ["path"]}},
        {"name": names[1], "description": "Modify a file.",
         "parameters": {"type": "object", "properties": {"path": s(), "content": s(dsc="New content or patch")}, "required": ["path", "content"]}},
        {"name": names[2], "description": "Run a shell command in the repository and return its output.",
         "parameters": {"type": "object", "properties": {"command": s(), "timeout": s("integer", "Seconds")}, "required": ["command"]}},
        {"name": names[3], "description": "Search the codebase.",
         "parameters": {"type": "object", "properties": {"pattern": s()}, "required": ["pattern"]}},
    ]


def coding_tools_json(r: R, style: int | None = None) -> str:
    return json.dumps([{"type": "function", "function": f} for f in coding_tools(r, style)])
