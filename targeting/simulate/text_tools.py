"""Tool-use prompts and OpenAI-style function definitions.

Function schemas are composed from a bank of business entities x operations x naming
conventions, so both an app's fixed toolset and an endless stream of fresh schemas can be
drawn from the same generator.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass

from . import text_common as C
from .rand import R


@dataclass(frozen=True)
class F:
    name: str
    type: str
    desc: str
    kind: str  # how to fake a value
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    name: str
    plural: str
    domain: str
    id: F
    fields: tuple[F, ...]
    ops: tuple[str, ...]
    asks: tuple[str, ...]


def _f(name, typ, desc, kind=None, enum=()):
    return F(name, typ, desc, kind or name, tuple(enum))


ENTITIES: dict[str, Entity] = {}


def _e(name, plural, domain, idf, fields, ops, asks):
    ENTITIES[name] = Entity(name, plural, domain, idf, tuple(fields), tuple(ops), tuple(asks))


_e("order", "orders", "e-commerce", _f("order_id", "string", "The order number", "order"),
   [_f("customer_email", "string", "Email of the customer", "email"),
    _f("status", "string", "Order status", "enum", ["pending", "paid", "shipped", "delivered", "cancelled"]),
    _f("min_total", "number", "Minimum order total", "money"),
    _f("created_after", "string", "Only orders created after this date (YYYY-MM-DD)", "date"),
    _f("shipping_method", "string", "Shipping method", "enum", ["standard", "express", "pickup"])],
   ("get", "list", "update", "cancel"),
   ["Where is my order {id}? It was supposed to arrive {hdate}.",
    "Cancel order {id}, the customer changed their mind.",
    "Show me all {status} orders over {money} since {date}.",
    "How many orders did {email} place this year?",
    "Change the shipping on {id} to express and tell me the new total."])
_e("customer", "customers", "crm", _f("customer_id", "string", "Unique customer id", "cust"),
   [_f("email", "string", "Customer email address", "email"),
    _f("name", "string", "Full name", "name"),
    _f("tier", "string", "Loyalty tier", "enum", ["free", "silver", "gold", "platinum"]),
    _f("country", "string", "ISO country code", "country"),
    _f("inactive_since", "string", "Last activity before this date", "date")],
   ("get", "list", "create", "update"),
   ["Find the customer with email {email} and upgrade them to gold.",
    "List all platinum customers in {country} who haven't ordered since {date}.",
    "Add a new customer: {name}, {email}, based in {city}.",
    "Who is customer {id} and what tier are they on?"])
_e("lead", "leads", "crm", _f("lead_id", "string", "CRM lead id", "lead"),
   [_f("company", "string", "Company name", "company"),
    _f("contact_name", "string", "Main contact", "name"),
    _f("stage", "string", "Pipeline stage", "enum", ["new", "qualified", "proposal", "negotiation", "won", "lost"]),
    _f("value", "number", "Estimated deal value in USD", "money"),
    _f("owner", "string", "Sales rep email", "email")],
   ("get", "list", "create", "update"),
   ["Move the {company} deal to negotiation and set the value to {money}.",
    "Which leads in the proposal stage are worth more than {money}?",
    "Create a lead for {company}, contact {name}, estimated {money}.",
    "Reassign all of {name}'s open leads to {email}."])
_e("invoice", "invoices", "billing", _f("invoice_id", "string", "Invoice number", "inv"),
   [_f("customer_id", "string", "Customer the invoice belongs to", "cust"),
    _f("amount", "number", "Invoice amount", "money"),
    _f("currency", "string", "Currency code", "enum", ["USD", "EUR", "GBP", "JPY", "CAD"]),
    _f("due_date", "string", "Due date YYYY-MM-DD", "date"),
    _f("status", "string", "Invoice status", "enum", ["draft", "sent", "paid", "overdue", "void"])],
   ("get", "list", "create", "send"),
   ["Send invoice {id} again, the client says they never got it.",
    "Which invoices are overdue by more than {n} days?",
    "Create an invoice for {company} for {money} due {date}.",
    "What's the total of unpaid invoices for customer {cust}?"])
_e("payment", "payments", "payments", _f("payment_id", "string", "Payment id", "pay"),
   [_f("amount", "number", "Amount to charge", "money"),
    _f("currency", "string", "ISO currency", "enum", ["usd", "eur", "gbp"]),
    _f("method", "string", "Payment method", "enum", ["card", "bank_transfer", "wallet"]),
    _f("customer_id", "string", "Paying customer", "cust"),
    _f("description", "string", "Statement description", "text")],
   ("get", "list", "create", "refund"),
   ["Refund {money} of payment {id}, the item arrived damaged.",
    "Charge customer {cust} {money} for the {product}.",
    "Did the payment from {name} on {hdate} go through?",
    "List failed card payments from the last {n} days."])
_e("subscription", "subscriptions", "billing", _f("subscription_id", "string", "Subscription id", "sub"),
   [_f("plan", "string", "Plan name", "enum", ["basic", "pro", "team", "enterprise"]),
    _f("seats", "integer", "Number of seats", "small_int"),
    _f("renews_on", "string", "Renewal date", "date"),
    _f("customer_id", "string", "Owner", "cust")],
   ("get", "update", "cancel", "list"),
   ["Upgrade {cust} to the team plan with {n} seats.",
    "When does subscription {id} renew?", "Cancel the subscription for {email} at the end of the term."])
_e("ticket", "tickets", "support", _f("ticket_id", "string", "Support ticket id", "ticket"),
   [_f("subject", "string", "Short summary", "text"),
    _f("priority", "string", "Priority", "enum", ["low", "normal", "high", "urgent"]),
    _f("status", "string", "Ticket status", "enum", ["open", "pending", "solved", "closed"]),
    _f("assignee", "string", "Agent email", "email"),
    _f("category", "string", "Category", "enum", ["billing", "bug", "account", "feature_request", "other"])],
   ("get", "list", "create", "update", "assign"),
   ["Open an urgent ticket: customer {name} can't log in since {hdate}.",
    "Assign all unassigned billing tickets to {email}.",
    "What's the status of ticket {id}?", "Close every ticket that's been pending for over {n} days."])
_e("shipment", "shipments", "logistics", _f("tracking_number", "string", "Carrier tracking number", "track"),
   [_f("carrier", "string", "Carrier", "enum", ["UPS", "FedEx", "DHL", "USPS", "DPD"]),
    _f("origin", "string", "Origin city", "city"), _f("destination", "string", "Destination city", "city"),
    _f("eta", "string", "Estimated arrival", "date"), _f("weight_kg", "number", "Weight in kg", "weight")],
   ("get", "track", "create", "list"),
   ["Track {id} and tell me if it'll arrive before {wday}.",
    "Create a shipment of {weight} kg from {city} to {city2} with DHL.",
    "Which shipments to {city} are delayed?", "Get me a quote to ship a {weight} kg box to {city}."])
_e("product", "products", "inventory", _f("sku", "string", "Stock keeping unit", "sku"),
   [_f("name", "string", "Product name", "product"), _f("price", "number", "Unit price", "money"),
    _f("stock", "integer", "Units in stock", "int"),
    _f("category", "string", "Category", "enum", ["electronics", "home", "outdoor", "apparel", "toys"])],
   ("get", "list", "update", "create"),
   ["How many units of {sku} do we have left?", "Set the price of the {product} to {money}.",
    "List electronics with fewer than {n} units in stock.", "Add a new product: {product}, {money}, {n} units."])
_e("inventory_item", "inventory_items", "inventory", _f("item_id", "string", "Inventory record id", "sku"),
   [_f("warehouse", "string", "Warehouse code", "enum", ["AMS-1", "BER-2", "DAL-1", "SFO-3", "SIN-1"]),
    _f("quantity", "integer", "Quantity on hand", "int"),
    _f("reorder_level", "integer", "Reorder threshold", "small_int")],
   ("get", "list", "transfer", "update"),
   ["Move {n} units of {sku} from DAL-1 to SFO-3.", "What's below reorder level in warehouse AMS-1?",
    "Do we have {sku} in any warehouse near {city}?"])
_e("flight", "flights", "travel", _f("flight_id", "string", "Flight offer id", "flight"),
   [_f("origin", "string", "IATA code of departure airport", "airport"),
    _f("destination", "string", "IATA code of arrival airport", "airport"),
    _f("departure_date", "string", "Date YYYY-MM-DD", "date"),
    _f("passengers", "integer", "Number of passengers", "small_int"),
    _f("cabin", "string", "Cabin class", "enum", ["economy", "premium_economy", "business", "first"])],
   ("search", "book", "cancel", "get"),
   ["Book me a flight from {city} to {city2} on {date} for {n} passengers, economy.",
    "Find the cheapest business class flight {ap1} to {ap2} next {wday}.",
    "Cancel my flight {id} and check if I get a refund.",
    "I need to be in {city2} by {time} on {hdate}. What are my options from {ap1}?"])
_e("hotel_booking", "hotel_bookings", "travel", _f("booking_id", "string", "Hotel booking reference", "book"),
   [_f("city", "string", "City", "city"), _f("check_in", "string", "Check-in date", "date"),
    _f("check_out", "string", "Check-out date", "date"), _f("guests", "integer", "Guests", "small_int"),
    _f("room_type", "string", "Room type", "enum", ["single", "double", "twin", "suite"])],
   ("search", "book", "cancel", "modify"),
   ["Find a double room in {city} from {date} for {n} nights under {money} a night.",
    "Extend booking {id} by one night.", "Book a suite in {city} for {n} guests on {hdate}."])
_e("event", "events", "calendar", _f("event_id", "string", "Calendar event id", "evt"),
   [_f("title", "string", "Event title", "text"), _f("start", "string", "Start time ISO 8601", "datetime"),
    _f("end", "string", "End time ISO 8601", "datetime"),
    _f("attendees", "array", "Attendee emails", "emails"), _f("location", "string", "Where", "city")],
   ("create", "list", "update", "delete"),
   ["Schedule a 30 min meeting with {name} next {wday} afternoon.",
    "What's on my calendar for {hdate}?", "Move my {time} meeting to tomorrow same time.",
    "Find a slot this week when {name} and {name2} are both free for an hour.",
    "Cancel all my meetings on {wday} and send a note to attendees."])
_e("employee", "employees", "hr", _f("employee_id", "string", "Employee id", "emp"),
   [_f("name", "string", "Full name", "name"),
    _f("department", "string", "Department", "enum", ["engineering", "sales", "finance", "ops", "marketing"]),
    _f("start_date", "string", "Start date", "date"), _f("manager_id", "string", "Manager's id", "emp")],
   ("get", "list", "create", "update"),
   ["Who does {name} report to?", "Onboard {name} into engineering starting {date}.",
    "List everyone in finance who started after {date}."])
_e("leave_request", "leave_requests", "hr", _f("request_id", "string", "Leave request id", "leave"),
   [_f("employee_id", "string", "Employee", "emp"), _f("start_date", "string", "First day", "date"),
    _f("end_date", "string", "Last day", "date"),
    _f("type", "string", "Leave type", "enum", ["vacation", "sick", "parental", "unpaid"])],
   ("create", "approve", "list"),
   ["Request vacation for me from {date} for {n} days.", "Approve all pending leave requests for my team.",
    "How many vacation days does {name} have left?"])
_e("appointment", "appointments", "healthcare", _f("appointment_id", "string", "Appointment id", "appt"),
   [_f("patient_name", "string", "Patient", "name"), _f("provider", "string", "Doctor or clinician", "name"),
    _f("datetime", "string", "Appointment time", "datetime"), _f("reason", "string", "Reason for visit", "text")],
   ("create", "cancel", "list", "reschedule"),
   ["Book {name} with Dr. {last} on {hdate} at {time}.", "Reschedule appointment {id} to next week.",
    "Which appointments does Dr. {last} have tomorrow?"])
_e("reservation", "reservations", "restaurants", _f("reservation_id", "string", "Reservation id", "resv"),
   [_f("restaurant", "string", "Restaurant name", "text"), _f("date", "string", "Date", "date"),
    _f("time", "string", "Time HH:MM", "time"), _f("party_size", "integer", "Party size", "small_int")],
   ("create", "cancel", "search"),
   ["Book a table for {n} at an Italian place in {city} on {wday} at {time}.",
    "Cancel my dinner reservation {id}.", "Any sushi restaurants with a table for {n} tonight?"])
_e("expense", "expenses", "finance", _f("expense_id", "string", "Expense id", "exp"),
   [_f("amount", "number", "Amount", "money"),
    _f("category", "string", "Category", "enum", ["travel", "meals", "software", "office", "other"]),
    _f("date", "string", "Date of purchase", "date"), _f("merchant", "string", "Merchant", "company")],
   ("create", "list", "approve"),
   ["Log a {money} taxi expense from {hdate}.", "How much did the team spend on software last month?",
    "Approve all meal expenses under {money}."])
_e("task", "tasks", "project management", _f("task_id", "string", "Task id", "task"),
   [_f("title", "string", "Task title", "text"), _f("assignee", "string", "Assignee email", "email"),
    _f("due_date", "string", "Due date", "date"),
    _f("status", "string", "Status", "enum", ["todo", "in_progress", "blocked", "done"]),
    _f("project", "string", "Project key", "proj")],
   ("create", "list", "update", "assign"),
   ["Create a task to update the onboarding docs, due {date}, assign to {email}.",
    "What's blocked in project {proj}?", "Mark {id} as done and notify {name}."])
_e("device", "devices", "smart home", _f("device_id", "string", "Device id", "dev"),
   [_f("room", "string", "Room", "enum", ["kitchen", "living_room", "bedroom", "office", "garage"]),
    _f("type", "string", "Device type", "enum", ["light", "thermostat", "lock", "speaker", "blinds"]),
    _f("state", "string", "Desired state", "enum", ["on", "off", "locked", "unlocked"]),
    _f("value", "number", "Brightness or temperature", "small_int")],
   ("list", "set", "get"),
   ["Turn off the kitchen lights and set the thermostat to {temp} degrees.",
    "Is the front door locked?", "Dim the living room to {n}% at {time}."])
_e("vehicle", "vehicles", "fleet", _f("vehicle_id", "string", "Vehicle id", "veh"),
   [_f("plate", "string", "License plate", "plate"), _f("driver", "string", "Assigned driver", "name"),
    _f("location", "string", "Current city", "city"), _f("fuel_level", "number", "Fuel 0-100", "pct")],
   ("get", "list", "assign", "update"),
   ["Which trucks near {city} have less than {n}% fuel?", "Assign vehicle {id} to {name} for tomorrow.",
    "Where is the van with plate {plate} right now?"])
_e("listing", "listings", "real estate", _f("listing_id", "string", "Listing id", "listing"),
   [_f("city", "string", "City", "city"), _f("bedrooms", "integer", "Minimum bedrooms", "small_int"),
    _f("max_price", "number", "Max price", "money"),
    _f("property_type", "string", "Type", "enum", ["apartment", "house", "condo", "townhouse"])],
   ("search", "get", "schedule_viewing"),
   ["Find {n}-bedroom apartments in {city} under {money}.", "Schedule a viewing for listing {id} on {wday}.",
    "Any houses with a garden in {city}?"])
_e("document", "documents", "documents", _f("document_id", "string", "Document id", "doc"),
   [_f("title", "string", "Title", "text"), _f("folder", "string", "Folder path", "folder"),
    _f("owner", "string", "Owner email", "email"), _f("modified_after", "string", "Modified after", "date")],
   ("search", "get", "share", "move"),
   ["Find the Q3 budget spreadsheet and share it with {email}.", "Move all drafts older than {date} to the archive folder.",
    "What did {name} change in the contract doc yesterday?"])
_e("issue", "issues", "software", _f("issue_number", "integer", "Issue number", "int"),
   [_f("repo", "string", "owner/name", "repo"), _f("title", "string", "Issue title", "text"),
    _f("labels", "array", "Labels", "labels"), _f("state", "string", "State", "enum", ["open", "closed"])],
   ("create", "list", "update", "comment"),
   ["Open an issue in {repo} about the login page crashing on Safari.",
    "List open bugs in {repo} labelled p1.", "Close issue #{n} in {repo} with a note that it's fixed in v{ver}."])
_e("stock_quote", "stock_quotes", "markets", _f("symbol", "string", "Ticker symbol", "ticker"),
   [_f("exchange", "string", "Exchange", "enum", ["NASDAQ", "NYSE", "LSE", "XETRA"]),
    _f("date", "string", "Trading day", "date")],
   ("get", "history"),
   ["What's {ticker} trading at right now?", "Compare {ticker} and {ticker2} over the last {n} days.",
    "Did {ticker} close higher than {money} on {hdate}?"])
_e("exchange_rate", "exchange_rates", "finance", _f("pair", "string", "Currency pair like EUR/USD", "pair"),
   [_f("amount", "number", "Amount to convert", "money"), _f("date", "string", "Date", "date")],
   ("get", "convert"),
   ["Convert {money} to yen.", "How many euros is 2,500 Canadian dollars today?",
    "What was EUR/USD on {hdate}?"])
_e("route", "routes", "maps", _f("route_id", "string", "Route id", "route"),
   [_f("origin", "string", "Start address or city", "city"), _f("destination", "string", "End", "city"),
    _f("mode", "string", "Travel mode", "enum", ["driving", "walking", "transit", "cycling"]),
    _f("depart_at", "string", "Departure time", "datetime")],
   ("get", "list"),
   ["How long to drive from {city} to {city2} if I leave at {time}?", "Fastest transit route to the airport from downtown {city}?",
    "Plan a cycling route from {city} to {city2} avoiding highways."])
_e("campaign", "campaigns", "marketing", _f("campaign_id", "string", "Campaign id", "camp"),
   [_f("name", "string", "Campaign name", "text"),
    _f("channel", "string", "Channel", "enum", ["email", "search", "social", "display"]),
    _f("budget", "number", "Daily budget", "money"), _f("start_date", "string", "Start", "date")],
   ("create", "get", "update", "pause"),
   ["Pause the {season} campaign if CPA is above {money}.", "Create an email campaign for the {product} launch starting {date}.",
    "How did campaign {id} perform last week?"])
_e("enrollment", "enrollments", "education", _f("enrollment_id", "string", "Enrollment id", "enr"),
   [_f("student_id", "string", "Student", "stud"), _f("course_code", "string", "Course code", "course"),
    _f("term", "string", "Term", "enum", ["fall", "spring", "summer"])],
   ("create", "list", "delete"),
   ["Enroll student {stud} in {course} for the spring term.", "Which courses is {name} taking this fall?",
    "Drop {course} for student {stud}."])

ENTITY_NAMES = list(ENTITIES)
WEATHER = {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]},
}
SEARCH = {
    "name": "web_search", "description": "Search the web and return the top results",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "Search query"}},
                   "required": ["query"]},
}
CALC = {
    "name": "calculator", "description": "Evaluate a math expression",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
}
GENERIC = [WEATHER, SEARCH, CALC]

_OPV = {
    "get": ["get", "fetch", "retrieve", "lookup"], "list": ["list", "search", "find", "query"],
    "create": ["create", "add", "new"], "update": ["update", "modify", "edit", "patch"],
    "cancel": ["cancel", "void"], "delete": ["delete", "remove"], "search": ["search", "find"],
    "book": ["book", "reserve"], "send": ["send", "resend"], "refund": ["refund"],
    "track": ["track"], "transfer": ["transfer", "move"], "assign": ["assign"], "approve": ["approve"],
    "reschedule": ["reschedule"], "modify": ["modify", "update"], "set": ["set", "control"],
    "schedule_viewing": ["schedule_viewing"], "share": ["share"], "move": ["move"],
    "comment": ["comment_on"], "history": ["get_history", "history"], "convert": ["convert"],
    "pause": ["pause"],
}
_DESC = {
    "get": ["Retrieve a single {e} by its id.", "Get details of one {e}.", "Look up a {e}."],
    "list": ["List {p} matching the given filters.", "Search {p}. All filters are optional.",
             "Return {p} that match the criteria, newest first."],
    "create": ["Create a new {e}.", "Add a {e} record.", "Create a {e} and return its id."],
}


def _camel(s: str) -> str:
    parts = s.split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])


def func_name(ent: Entity, op: str, verb: str, conv: str) -> str:
    noun = ent.plural if op in ("list", "search") else ent.name
    base = f"{verb}_{noun}"
    if conv == "camel":
        return _camel(base)
    if conv == "noun_first":
        return f"{noun}_{verb}"
    if conv == "dotted":
        return f"{ent.domain.split()[0].replace('-', '')}_{verb}_{noun}"
    return base


def _prop(f: F) -> dict:
    p: dict = {"type": f.type, "description": f.desc}
    if f.enum:
        p["enum"] = list(f.enum)
    if f.type == "array":
        p["items"] = {"type": "string"}
    return p


def make_function(r: R, ent: Entity, op: str, conv: str = "snake") -> dict:
    verb = r.pick(_OPV.get(op, [op]))
    e_h = ent.name.replace("_", " ")
    p_h = ent.plural.replace("_", " ")
    if op in _DESC:
        desc = r.pick(_DESC[op]).format(e=e_h, p=p_h)
    else:
        desc = f"{op.replace('_', ' ').capitalize()} a {e_h}."
    if r.maybe(0.3):
        desc += r.pick([" Requires admin scope.", f" Used by the {ent.domain} team.",
                        " Returns an error object if not found.", " Idempotent.", ""])
    props: dict = {}
    required: list[str] = []
    fields = list(ent.fields)
    if op in ("list", "search", "history"):
        for f in r.some(fields, 1, min(4, len(fields))):
            props[f.name] = _prop(f)
        props["limit"] = {"type": "integer", "description": "Max results", "default": r.pick([10, 20, 50, 100])}
    elif op == "create" or op == "book":
        chosen = r.some(fields, min(2, len(fields)), len(fields))
        for f in chosen:
            props[f.name] = _prop(f)
        required = [f.name for f in chosen[: max(1, len(chosen) - r.randint(0, 2))]]
    else:
        props[ent.id.name] = _prop(ent.id)
        required = [ent.id.name]
        for f in r.some(fields, 0, 3):
            props[f.name] = _prop(f)
        if op in ("cancel", "delete", "refund") and r.maybe(0.6):
            props["reason"] = {"type": "string", "description": "Why"}
    return {"name": func_name(ent, op, verb, conv), "description": desc,
            "parameters": {"type": "object", "properties": props, "required": required}}


def toolset(r: R, entities: list[str] | None = None, n_funcs: tuple[int, int] = (2, 6),
            generic: float = 0.3, conv: str | None = None) -> list[dict]:
    """A list of bare function definitions (name/description/parameters)."""
    ents = [ENTITIES[e] for e in (entities or r.sample(ENTITY_NAMES, r.randint(1, 2)))]
    conv = conv or r.wpick(["snake", "camel", "noun_first", "dotted"], [6, 2, 1, 1])
    funcs: list[dict] = []
    seen = set()
    want = r.randint(*n_funcs)
    for _ in range(want * 3):
        ent = r.pick(ents)
        op = r.pick(ent.ops)
        if (ent.name, op) in seen:
            continue
        seen.add((ent.name, op))
        funcs.append(make_function(r, ent, op, conv))
        if len(funcs) >= want:
            break
    if r.maybe(generic):
        funcs.append(r.pick(GENERIC))
    return funcs


def tools_json(funcs: list[dict], legacy: bool = False) -> str:
    if legacy:
        return json.dumps(funcs, ensure_ascii=False)
    return json.dumps([{"type": "function", "function": f} for f in funcs], ensure_ascii=False)


# ----------------------------------------------------------------------------- fake values
_TICKERS = ["AAPL", "MSFT", "NVDA", "ASML", "SAP", "TSLA", "AMZN", "SHOP", "NFLX", "ADBE", "INTC", "TM"]
_COUNTRIES = ["US", "DE", "FR", "ES", "JP", "BR", "IN", "GB", "NG", "KE", "CA", "MX", "PL"]
_REPOS = ["acme/web", "acme/api", "foxglove/mobile-app", "nimbus/infra", "lumen/dashboard", "kestrel/booking"]
_COURSES = ["CS101", "MATH221", "STAT110", "BIO150", "ECON201", "PHYS130", "HIST105"]


def fake(r: R, kind: str, f: F | None = None):
    if kind == "enum" and f is not None and f.enum:
        return r.pick(f.enum)
    if kind == "email":
        return C.email_of(r)
    if kind == "emails":
        return [C.email_of(r) for _ in range(r.randint(1, 3))]
    if kind in ("name", "contact_name"):
        return C.full_name(r)
    if kind == "city":
        return C.city(r)
    if kind == "country":
        return r.pick(_COUNTRIES)
    if kind == "company":
        return r.pick(C.COMPANIES)
    if kind == "money":
        return round(r.uniform(5, 5000), 2)
    if kind in ("int",):
        return r.randint(0, 900)
    if kind in ("small_int",):
        return r.randint(1, 8)
    if kind == "pct":
        return r.randint(3, 100)
    if kind == "weight":
        return round(r.uniform(0.2, 40), 1)
    if kind == "date":
        return C.date_str(r)
    if kind == "datetime":
        return f"{C.date_str(r)}T{r.randint(7, 19):02d}:{r.pick(['00', '15', '30', '45'])}:00Z"
    if kind == "time":
        return f"{r.randint(11, 21):02d}:{r.pick(['00', '30'])}"
    if kind == "airport":
        return r.pick(C.AIRPORTS)
    if kind == "product":
        return r.pick(C.PRODUCTS)
    if kind == "sku":
        return C.sku(r)
    if kind == "ticker":
        return r.pick(_TICKERS)
    if kind == "repo":
        return r.pick(_REPOS)
    if kind == "labels":
        return r.some(["bug", "p1", "frontend", "backend", "good first issue", "regression"], 1, 3)
    if kind == "text":
        return r.pick(["Quarterly review", "Login fails on mobile", "Team offsite", "Dinner with client",
                       "Renewal discussion", "Package arrived damaged", "Follow-up call", "Budget draft v2"])
    if kind == "pair":
        return r.pick(["EUR/USD", "USD/JPY", "GBP/EUR", "USD/MXN", "EUR/CHF"])
    if kind == "plate":
        return f"{r.pick(['KA', 'B', 'TX', 'CA', 'M'])}-{r.randint(100, 9999)}"
    if kind == "course":
        return r.pick(_COURSES)
    if kind == "folder":
        return r.pick(["/finance/2026", "/legal/contracts", "/shared/drafts", "/hr/policies"])
    prefix = {"order": "ORD-", "cust": "cus_", "lead": "L-", "inv": "INV-", "pay": "pi_", "sub": "sub_",
              "ticket": "T-", "track": "1Z", "flight": "FL", "book": "HB-", "evt": "evt_", "emp": "E",
              "leave": "LR-", "appt": "APT-", "resv": "R", "exp": "EXP-", "task": "TSK-", "dev": "dev_",
              "veh": "VH-", "listing": "LS", "doc": "doc_", "route": "rt_", "camp": "cmp_", "enr": "EN",
              "stud": "S", "proj": "PRJ-"}.get(kind, "id_")
    return f"{prefix}{r.randint(1000, 999999)}"


_SLOT = {
    "name": lambda r: C.full_name(r), "name2": lambda r: C.first(r), "last": lambda r: r.pick(C.LAST_NAMES),
    "email": lambda r: C.email_of(r), "city": lambda r: C.city(r), "city2": lambda r: C.city(r),
    "date": lambda r: C.date_str(r), "hdate": lambda r: C.human_date(r), "time": lambda r: C.time_str(r),
    "wday": lambda r: r.pick(C.WEEKDAYS), "money": lambda r: C.money(r, 20, 5000), "n": lambda r: r.randint(2, 12),
    "company": lambda r: r.pick(C.COMPANIES), "product": lambda r: r.pick(C.PRODUCTS), "sku": lambda r: C.sku(r),
    "ap1": lambda r: r.pick(C.AIRPORTS), "ap2": lambda r: r.pick(C.AIRPORTS), "ticker": lambda r: r.pick(_TICKERS),
    "ticker2": lambda r: r.pick(_TICKERS), "country": lambda r: r.pick(_COUNTRIES), "cust": lambda r: fake(r, "cust"),
    "weight": lambda r: round(r.uniform(0.5, 30), 1), "temp": lambda r: r.randint(17, 24),
    "repo": lambda r: r.pick(_REPOS), "ver": lambda r: f"{r.randint(1, 4)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    "plate": lambda r: fake(r, "plate"), "course": lambda r: r.pick(_COURSES), "stud": lambda r: fake(r, "stud"),
    "proj": lambda r: fake(r, "proj"), "season": lambda r: r.pick(["winter", "black friday", "spring", "back-to-school"]),
}
_FIELDS: dict[str, list[str]] = {}


def _fields(template: str) -> list[str]:
    if template not in _FIELDS:
        _FIELDS[template] = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    return _FIELDS[template]


def fill(r: R, template: str, ent: Entity | None = None) -> str:
    """Format a request template, drawing only the slot values it uses."""
    vals: dict = {}
    for f in _fields(template):
        if f in vals:
            continue
        if f == "id" and ent is not None:
            vals[f] = fake(r, ent.id.kind, ent.id)
        elif f == "status":
            st = next((x for x in ent.fields if x.name == "status"), None) if ent is not None else None
            vals[f] = r.pick(st.enum) if st else "open"
        else:
            vals[f] = _SLOT[f](r)
    return template.format(**vals)


def ask(r: R, ent: Entity) -> str:
    return fill(r, r.pick(ent.asks), ent)


def tool_result(r: R, ent: Entity, func: dict | None = None) -> str:
    obj = {ent.id.name: fake(r, ent.id.kind, ent.id)}
    for f in r.some(list(ent.fields), 2, len(ent.fields)):
        obj[f.name] = fake(r, f.kind, f)
    if r.maybe(0.25):
        obj = {"results": [obj] + [{ent.id.name: fake(r, ent.id.kind, ent.id)} for _ in range(r.randint(1, 3))],
               "next_page": None}
    if r.maybe(0.08):
        code, msg = r.pick([(404, "not found"), (409, "conflict"), (422, "invalid date range"),
                            (422, f"missing required field '{r.pick(ent.fields).name}'"), (429, "rate limited"),
                            (500, "internal error"), (403, "insufficient scope")])
        obj = {"error": {"code": code, "message": msg}}
    return json.dumps(obj, ensure_ascii=False, indent=r.pick([None, None, 2]))


_NEXT = [
    "Now tell the customer in a friendly message.", "Based on that, what should I do next?",
    "Summarize this for the user.", "Now call the next function you need.", "Is anything wrong with this result?",
    "What should the next call be, with arguments?", "ok, so can you go ahead and finish the booking?",
    "Explain the error and retry with fixed arguments.", "Turn this into a one-line status update.",
    "Given this, answer my original question.", "Now do the same for the other one.",
    "Interpret the result and decide on the next call.", "Whether it worked or not, tell the user what happened.",
]
_DEV = [
    "Why does the model keep calling {fn} with a string for {param} when the schema says {ptype}?",
    "How should I describe the {param} parameter of {fn} so it stops being left out?",
    "Write a JSON schema for a function the model can call for requests like \"{does}\".",
    "Is it better to have one {fn} function with a mode flag or separate functions?",
    "My tool call to {fn} returned an error, how do I pass that back to the model properly?",
    "Which of these functions would you call for \"{does}\", and with what arguments?",
    "Convert this function definition to the new tools format: {{\"name\": \"{fn}\", \"parameters\": {{...}}}}",
    "Which of the available functions should I call for \"{does}\"? Give the exact arguments.",
    "What are the required parameters for {fn}? The definitions are provided above.",
    "How do I handle multi-step calls where {fn} needs the output of another function?",
]


def func_for(r: R, ent: Entity, funcs: list[dict]) -> dict:
    """A function from ``funcs`` that works on ``ent`` (any one if none does)."""
    keys = (ent.name.replace("_", "").lower(), ent.plural.replace("_", "").lower())
    mine = [f for f in funcs if any(k in f["name"].replace("_", "").lower() for k in keys)]
    return r.pick(mine or funcs)


def organic(r: R, ent_names: list[str], funcs: list[dict]) -> str:
    ent = ENTITIES[r.pick(ent_names)]
    u = r.random()
    fn = func_for(r, ent, funcs)
    if u < 0.48:
        return ask(r, ent)
    if u < 0.68:
        res = tool_result(r, ent)
        nxt = r.pick(_NEXT)
        return r.pick([
            f"The function {fn['name']} returned:\n{res}\n{nxt}",
            f"Tool output: {res}\n\n{nxt}",
            f"{ask(r, ent)}\n\n[{fn['name']} result]\n{res}\n\n{nxt}",
            f"I called {fn['name']} and got back {res}. {nxt}",
        ])
    if u < 0.8:
        a, b = ask(r, ent), ask(r, ENTITIES[r.pick(ent_names)])
        tail = r.pick(["", " Finally, email me a summary.", " Then confirm with me before anything is charged.",
                       " Do it in whatever order makes sense.", " (it's a multi-step thing, use the provided tools)"])
        return f"First, {a[0].lower() + a[1:]} Then {b[0].lower() + b[1:]}{tail}"
    if u < 0.9:
        return r.pick([
            f"Return only the JSON arguments for `{fn['name']}` to do this: {ask(r, ent)}",
            f"What arguments would you pass to {fn['name']} for: {ask(r, ent)}",
            f"{ask(r, ent)} (respond with the function call only)",
        ])
    props = list(fn["parameters"]["properties"]) or ["id"]
    param = r.pick(props)
    ptype = fn["parameters"]["properties"].get(param, {}).get("type", "string")
    does = ask(r, ent).rstrip(".?").lower()
    return r.pick(_DEV).format(fn=fn["name"], param=param, ptype=ptype, does=does)


_TFOLLOW = [
    "now do the same for {city}", "actually make it {n} instead", "what about next {wday}?",
    "and cancel the other one", "ok do it", "no wait, use {email} instead",
    "can you double-check the date?", "why did you call that function twice?",
    "great, and send me a confirmation", "hmm it says error {code}, try again",
]


def followup(r: R) -> str:
    return r.pick(_TFOLLOW).format(city=C.city(r), n=r.randint(2, 9), wday=r.pick(C.WEEKDAYS),
                                   email=C.email_of(r), code=r.pick([400, 404, 422, 500]))
