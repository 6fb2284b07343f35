"""Marketing content of the Ledgerly example site: industries, products, plans, testimonials, FAQ.

Everything here is plain data. The Jinja environment exposes it as globals (``INDUSTRIES``,
``PLANS``, …) so that the partial templates smartseg renders for a rule
(``replace slot … with template "partials/…"``) can use the same copy as the pages.

The ``key`` of an industry is the segment name in ``rules/10-groups.seg``
(``Industry.Legal`` → ``INDUSTRIES["Legal"]``); keep them in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Feature:
    """One feature bullet with a short explanation."""

    title: str
    body: str


@dataclass(frozen=True)
class Industry:
    """An industry Ledgerly sells to; one segment of the ``Industry`` group."""

    key: str  # segment name in the rules, e.g. "Legal"
    slug: str  # URL slug: /legal/, /pricing/legal
    name: str  # short display name
    label: str  # segment label, as the survey shows it
    audience: str  # "law firms", used in running copy
    headline: str
    tagline: str
    intro: tuple[str, ...]
    pains: tuple[Feature, ...]
    features: tuple[Feature, ...]
    stats: tuple[tuple[str, str], ...]
    categories: tuple[str, ...]
    plan_hint: str  # plan most firms of this kind choose
    pricing_note: str
    webinar_title: str
    webinar_when: str
    webinar_event: str  # event tracked on registration (rules: implicit event)
    tag: str  # tag given on newsletter sign-up (rules: explicit tag)
    icon: str  # name of an inline SVG icon in components/icons.html


@dataclass(frozen=True)
class Product:
    """A product area with its own page under /product/<slug>."""

    slug: str
    name: str
    summary: str
    body: tuple[str, ...]
    highlights: tuple[Feature, ...]
    categories: tuple[str, ...]
    icon: str


@dataclass(frozen=True)
class Plan:
    """A price plan."""

    key: str
    name: str
    price: int  # USD per user per month, billed annually
    blurb: str
    seats: str
    features: tuple[str, ...]
    highlighted: bool = False


@dataclass(frozen=True)
class Testimonial:
    """A customer quote; ``segment`` is the ``Group.Segment`` it speaks to."""

    segment: str
    quote: str
    person: str
    role: str
    firm: str
    metric: str


@dataclass(frozen=True)
class Question:
    """One FAQ entry."""

    question: str
    answer: str


@dataclass(frozen=True)
class CaseStudy:
    """A short customer story."""

    title: str
    firm: str
    summary: str
    results: tuple[tuple[str, str], ...]
    paragraphs: tuple[str, ...] = field(default_factory=tuple)


INDUSTRY_LIST: tuple[Industry, ...] = (
    Industry(
        key="Legal",
        slug="legal",
        name="Legal",
        label="Legal services",
        audience="law firms",
        headline="Billing built for law firms, trust accounting included",
        tagline=(
            "Capture every six-minute unit, bill against retainers and keep client money "
            "where it belongs, in a trust ledger that reconciles itself."
        ),
        intro=(
            "Most practice management tools treat billing as an afterthought. Ledgerly "
            "starts from the invoice: time entries, disbursements and fixed fees flow into "
            "a pre-bill your supervising partner can review in one pass.",
            "Client money is kept in a separate trust ledger per matter. Ledgerly will not "
            "let you pay an invoice from a trust balance that is not there, and produces "
            "the three-way reconciliation your regulator asks for at month end.",
        ),
        pains=(
            Feature(
                "Unbilled time leaks away",
                "Fee earners reconstruct their week on Friday afternoon and forget the calls "
                "and emails that never made it into a diary.",
            ),
            Feature(
                "Trust reconciliations take days",
                "Spreadsheets, bank statements and client ledgers that never quite agree, "
                "checked by hand by the one person who understands them.",
            ),
            Feature(
                "Pre-bills live in email threads",
                "Partners mark up PDFs, the accounts team re-keys the changes, and the "
                "invoice goes out two weeks after the work was done.",
            ),
        ),
        features=(
            Feature(
                "Six-minute time capture",
                "Timers, calendar import and a weekly gap report that shows which days "
                "have suspiciously little time recorded.",
            ),
            Feature(
                "Matter-level trust ledgers",
                "Receipts, transfers and refunds per client and per matter, with "
                "three-way reconciliation in a single report.",
            ),
            Feature(
                "Pre-bill review",
                "Partners write down, write off or re-describe entries on screen; every "
                "change is kept in the audit trail.",
            ),
            Feature(
                "LEDES and UTBMS export",
                "Insurance and corporate clients get e-billing files in the format their "
                "systems accept, with task and activity codes.",
            ),
        ),
        stats=(
            ("41%", "fewer unbilled hours"),
            ("23 days", "median debtor days"),
            ("2 h", "monthly reconciliation"),
        ),
        categories=("law", "legal-billing"),
        plan_hint="practice",
        pricing_note="Trust accounting and LEDES export are included on every plan.",
        webinar_title="Month-end trust reconciliation in under an hour",
        webinar_when="Thursday, 12:00 ET, every second week",
        webinar_event="legal_webinar",
        tag="lawyer",
        icon="scale",
    ),
    Industry(
        key="RealEstate",
        slug="real-estate",
        name="Real estate",
        label="Real estate",
        audience="brokerages and property managers",
        headline="Commissions, management fees and deposits, invoiced on time",
        tagline=(
            "Split commissions the way your agreements say, bill owners every month without "
            "a spreadsheet and keep security deposits in ledgers tenants can trust."
        ),
        intro=(
            "Brokerages and property managers juggle three kinds of money: commissions, "
            "recurring management fees and deposits that belong to someone else. Ledgerly "
            "keeps each in its own lane and invoices all three from the same place.",
            "Commission plans with caps, tiers and referral fees are set up once. When a "
            "deal closes, Ledgerly drafts the disbursement and the agent statements before "
            "your closing coordinator has finished the paperwork.",
        ),
        pains=(
            Feature(
                "Split sheets that nobody trusts",
                "Every agent has a slightly different plan, and every closing means another "
                "formula copied into another spreadsheet.",
            ),
            Feature(
                "Owner statements at the last minute",
                "Management fees, repairs and rent collected all have to reconcile before "
                "the owner statement can go out.",
            ),
            Feature(
                "Deposit disputes",
                "When a tenant moves out, nobody can show exactly what was deducted and why.",
            ),
        ),
        features=(
            Feature(
                "Commission plans",
                "Tiers, caps, franchise fees and referral splits, applied automatically at "
                "closing with a statement for every agent.",
            ),
            Feature(
                "Recurring owner invoices",
                "Management fees calculated from rent collected, with repairs and "
                "pass-through costs itemised on the same statement.",
            ),
            Feature(
                "Deposit ledgers",
                "Each security deposit held separately, with move-out deductions documented "
                "line by line and photos attached.",
            ),
            Feature(
                "Portal for owners and agents",
                "Owners download statements and agents see their pipeline of pending "
                "commissions without emailing the back office.",
            ),
        ),
        stats=(
            ("3 h", "saved per closing"),
            ("99.2%", "owner statements on time"),
            ("0", "deposit spreadsheets"),
        ),
        categories=("real-estate", "property-management", "commissions"),
        plan_hint="practice",
        pricing_note="Commission plans and deposit ledgers come with the Practice and Firm plans.",
        webinar_title="Commission splits without spreadsheets",
        webinar_when="Tuesday, 11:00 ET, monthly",
        webinar_event="realestate_webinar",
        tag="realtor",
        icon="house",
    ),
    Industry(
        key="Hospitality",
        slug="hospitality",
        name="Hospitality",
        label="Hospitality",
        audience="hotels, restaurants and venues",
        headline="Deposits, group bookings and corporate accounts, invoiced in minutes",
        tagline=(
            "Take deposits for private events, send one master invoice for a forty-room "
            "group and give your corporate clients credit terms without losing track."
        ),
        intro=(
            "Your point-of-sale system is excellent at the bar. It is not built for the "
            "wedding that paid a deposit in March, the conference that needs one invoice for "
            "forty guests or the law firm that books a private room every Thursday.",
            "Ledgerly handles the bookings that happen away from the till: deposits with "
            "clear cancellation terms, master accounts for groups and monthly statements "
            "for the corporate clients who keep your midweek full.",
        ),
        pains=(
            Feature(
                "Deposits in three places",
                "Some paid by card, some by transfer, one in cash at the bar: and nobody is "
                "sure what is still owed on the night.",
            ),
            Feature(
                "Group invoices rebuilt by hand",
                "Room charges, incidentals and the conference package, copied line by line "
                "from the property management system.",
            ),
            Feature(
                "Corporate accounts drift",
                "Credit terms agreed over lunch, invoices paid in sixty days instead of "
                "thirty, and no easy way to see who is over their limit.",
            ),
        ),
        features=(
            Feature(
                "Event deposits",
                "Payment links with your cancellation policy attached, balances tracked "
                "against the booking and reminders sent before the event.",
            ),
            Feature(
                "Master invoices",
                "One invoice for the organiser with a per-guest breakdown, split across "
                "cost centres when the client asks.",
            ),
            Feature(
                "Corporate accounts",
                "Credit limits, monthly statements and an aged-debt view by client so you "
                "know who to call before you accept the next booking.",
            ),
            Feature(
                "Multi-venue reporting",
                "Each venue invoices under its own entity, and group finance sees the whole "
                "picture in one dashboard.",
            ),
        ),
        stats=(
            ("6 min", "to invoice a group"),
            ("-38%", "late corporate payments"),
            ("100%", "deposits reconciled"),
        ),
        categories=("hospitality", "restaurants", "hotels"),
        plan_hint="firm",
        pricing_note="Multi-venue entities and master invoices are part of the Firm plan.",
        webinar_title="Deposits and cancellations that protect your margins",
        webinar_when="Monday, 15:00 ET, monthly",
        webinar_event="hospitality_webinar",
        tag="hospitality",
        icon="bell",
    ),
    Industry(
        key="Healthcare",
        slug="healthcare",
        name="Healthcare",
        label="Healthcare practices",
        audience="clinics and private practices",
        headline="Patient billing that is clear, kind and paid on time",
        tagline=(
            "Give self-pay patients an estimate they understand, offer payment plans safely "
            "and stop chasing no-show fees by phone."
        ),
        intro=(
            "Independent practices live on self-pay and out-of-network income, and every "
            "confusing invoice becomes a phone call to the front desk. Ledgerly turns "
            "treatment plans into plain-language estimates and invoices patients can pay "
            "from their phone.",
            "Payment plans are set up in two clicks with automatic instalments, and your "
            "cancellation policy is applied consistently, so the front desk never has to "
            "argue about a missed appointment fee.",
        ),
        pains=(
            Feature(
                "Estimates patients cannot read",
                "Procedure codes and insurance jargon turn a simple question, what will I "
                "pay, into a twenty-minute call.",
            ),
            Feature(
                "Payment plans tracked on paper",
                "Instalments agreed at the desk, recorded in a notebook and forgotten when "
                "the patient does not come back.",
            ),
            Feature(
                "No-shows are free",
                "The policy says there is a fee, but nobody wants to be the one who sends it.",
            ),
        ),
        features=(
            Feature(
                "Plain-language estimates",
                "Treatment plans become estimates with a clear patient responsibility, "
                "approved online before the first appointment.",
            ),
            Feature(
                "Automatic payment plans",
                "Instalments charged on schedule to the card on file, with a friendly "
                "reminder three days before each one.",
            ),
            Feature(
                "Policy-based fees",
                "Late cancellation and no-show fees applied from your written policy, with "
                "the patient's signed consent on record.",
            ),
            Feature(
                "Privacy by design",
                "Invoices show what the patient needs and nothing more; access is logged "
                "and a business associate agreement is available.",
            ),
        ),
        stats=(
            ("52%", "fewer billing calls"),
            ("18 days", "faster self-pay collection"),
            ("4.8/5", "patient rating"),
        ),
        categories=("healthcare", "medical-billing", "clinics"),
        plan_hint="practice",
        pricing_note=(
            "Payment plans and a signed business associate agreement are included from Practice."
        ),
        webinar_title="Self-pay collections without awkward conversations",
        webinar_when="Wednesday, 13:00 ET, every second week",
        webinar_event="healthcare_webinar",
        tag="clinic",
        icon="heart",
    ),
    Industry(
        key="Agency",
        slug="agencies",
        name="Agencies",
        label="Creative & marketing agencies",
        audience="creative and marketing agencies",
        headline="Retainers, milestones and overages, billed without awkward emails",
        tagline=(
            "Track hours against every retainer, invoice project milestones the moment "
            "they are approved and bill the extra work your clients asked for."
        ),
        intro=(
            "Agencies lose margin in the gaps: the extra round of revisions, the retainer "
            "that quietly ran over in week three, the milestone approved in a comment thread "
            "that nobody turned into an invoice.",
            "Ledgerly watches retainers burn down in real time, warns account managers at "
            "80 percent and turns approved milestones and overages into invoices the client "
            "already expects.",
        ),
        pains=(
            Feature(
                "Retainers run over in silence",
                "By the time finance notices, the client has had two weeks of free work and "
                "the conversation is harder than it needs to be.",
            ),
            Feature(
                "Milestones approved, never billed",
                "Sign-off happens in Slack or a comment thread, and the invoice waits for "
                "someone to remember it.",
            ),
            Feature(
                "Pass-through costs vanish",
                "Stock photography, ad spend and freelancers paid on the agency card and "
                "never re-billed.",
            ),
        ),
        features=(
            Feature(
                "Retainer burn-down",
                "Live hours against each retainer with alerts at 50, 80 and 100 percent to "
                "the account lead.",
            ),
            Feature(
                "Milestone billing",
                "Attach billing to project milestones; approval creates the invoice draft "
                "with the statement of work attached.",
            ),
            Feature(
                "Pass-through costs",
                "Expenses tagged to a client are added to the next invoice with your agreed "
                "mark-up.",
            ),
            Feature(
                "Utilisation reports",
                "Billable share per person and per client, so the next retainer is priced "
                "on evidence.",
            ),
        ),
        stats=(
            ("12%", "more billable hours recovered"),
            ("3 days", "milestone to invoice"),
            ("0", "forgotten pass-throughs"),
        ),
        categories=("agency", "retainers"),
        plan_hint="practice",
        pricing_note="Retainer alerts and milestone billing are included on every plan.",
        webinar_title="Pricing retainers that survive scope creep",
        webinar_when="Friday, 10:00 ET, monthly",
        webinar_event="agency_webinar",
        tag="agency",
        icon="spark",
    ),
)

INDUSTRIES: dict[str, Industry] = {i.key: i for i in INDUSTRY_LIST}
INDUSTRIES_BY_SLUG: dict[str, Industry] = {i.slug: i for i in INDUSTRY_LIST}

PRODUCT_LIST: tuple[Product, ...] = (
    Product(
        slug="invoicing",
        name="Invoicing",
        summary=(
            "Professional invoices from time, fees and expenses, sent and tracked automatically."
        ),
        body=(
            "Ledgerly builds each invoice from the work already recorded: time entries, fixed "
            "fees, milestones and expenses. You choose the layout once, per client if you "
            "like, and every invoice after that follows it.",
            "Invoices are sent with a secure payment link and tracked from the moment they "
            "are opened. Reminders go out on the schedule you set, in your firm's voice, and "
            "stop the moment the client pays.",
        ),
        highlights=(
            Feature(
                "Batch billing", "Bill every client with unbilled work in one run at month end."
            ),
            Feature(
                "Branded layouts", "Your logo, your wording, per-client templates and languages."
            ),
            Feature(
                "Smart reminders", "Polite, escalating reminders that stop when payment arrives."
            ),
        ),
        categories=("invoicing",),
        icon="invoice",
    ),
    Product(
        slug="payments",
        name="Payments",
        summary=(
            "Cards, bank transfers and direct debit, reconciled against invoices automatically."
        ),
        body=(
            "Every Ledgerly invoice carries a payment link. Clients pay by card, bank "
            "transfer or direct debit, and the payment is matched to the invoice without "
            "anyone opening the bank statement.",
            "For recurring fees and payment plans, Ledgerly stores a mandate or card on file "
            "and collects on schedule, with notifications before every charge.",
        ),
        highlights=(
            Feature(
                "Automatic matching",
                "Bank feeds matched to invoices by amount, reference and payer.",
            ),
            Feature("Payment plans", "Instalments collected on schedule with advance notice."),
            Feature(
                "Surcharge rules", "Pass card fees on where the law allows, per client or method."
            ),
        ),
        categories=("payments", "cash-flow"),
        icon="card",
    ),
    Product(
        slug="time-tracking",
        name="Time tracking",
        summary="Timers, calendar import and gap reports so billable time stops leaking away.",
        body=(
            "Start a timer from the browser, the phone or the desktop app, or let Ledgerly "
            "suggest entries from your calendar and sent email. Entries carry the client, "
            "matter or project and a description the client will actually understand.",
            "The weekly gap report shows each person the hours that look missing, before "
            "they are forgotten for good.",
        ),
        highlights=(
            Feature(
                "Any increment", "Six-minute units, quarter hours or exact minutes, per client."
            ),
            Feature("Calendar suggestions", "Meetings and calls proposed as draft time entries."),
            Feature("Gap report", "A Monday-morning nudge listing days with little time recorded."),
        ),
        categories=("time-tracking",),
        icon="clock",
    ),
    Product(
        slug="trust-accounting",
        name="Trust accounting",
        summary="Client money held per matter, with three-way reconciliation in one report.",
        body=(
            "Retainers, settlement funds and deposits belong to your clients until they are "
            "earned or paid out. Ledgerly keeps a ledger for each client and matter and "
            "refuses transfers that would take a balance below zero.",
            "At month end, one report reconciles the bank statement, the trust journal and "
            "the client ledgers, and shows any difference with the entries that caused it.",
        ),
        highlights=(
            Feature(
                "Per-matter ledgers", "Every receipt and transfer tied to a client and a matter."
            ),
            Feature("Three-way reconciliation", "Bank, journal and ledgers agreed in one report."),
            Feature("Overdraw protection", "Transfers blocked before a ledger can go negative."),
        ),
        categories=("trust-accounting",),
        icon="vault",
    ),
    Product(
        slug="reporting",
        name="Reporting",
        summary="Aged debt, realisation and utilisation reports that partners actually read.",
        body=(
            "Ledgerly's reports answer the questions partners ask at the Monday meeting: who "
            "owes us money, which clients are profitable and who has capacity next week.",
            "Every figure links back to the invoices and entries behind it, and reports can "
            "be scheduled to land in inboxes before the meeting starts.",
        ),
        highlights=(
            Feature("Aged debt", "Outstanding balances by client, partner and age band."),
            Feature("Realisation", "Recorded value against billed and collected value."),
            Feature("Scheduled packs", "A PDF pack emailed every Monday at 8 a.m."),
        ),
        categories=("reporting", "cash-flow"),
        icon="chart",
    ),
)

PRODUCTS: dict[str, Product] = {p.slug: p for p in PRODUCT_LIST}

PLAN_LIST: tuple[Plan, ...] = (
    Plan(
        key="solo",
        name="Solo",
        price=19,
        blurb="For independent professionals billing their own time.",
        seats="1 user",
        features=(
            "Unlimited invoices and clients",
            "Card and bank-transfer payments",
            "Time tracking and timers",
            "Automatic payment reminders",
            "Email support",
        ),
    ),
    Plan(
        key="practice",
        name="Practice",
        price=39,
        blurb="For growing firms with a small back office.",
        seats="2 to 50 users",
        features=(
            "Everything in Solo",
            "Trust and deposit ledgers",
            "Retainers, milestones and payment plans",
            "Pre-bill review and approvals",
            "Client portal",
            "Priority support",
        ),
        highlighted=True,
    ),
    Plan(
        key="firm",
        name="Firm",
        price=69,
        blurb="For multi-office firms and groups with several entities.",
        seats="10 users and up",
        features=(
            "Everything in Practice",
            "Multiple entities and venues",
            "Single sign-on and audit exports",
            "Custom roles and approval chains",
            "Dedicated onboarding manager",
        ),
    ),
)

PLANS: dict[str, Plan] = {p.key: p for p in PLAN_LIST}

TESTIMONIALS: tuple[Testimonial, ...] = (
    Testimonial(
        "Industry.Legal",
        "Our trust reconciliation used to take two of us most of a day. Now it is one report "
        "and a coffee, and our last inspection took forty minutes.",
        "Miriam Achebe",
        "Managing Partner",
        "Harrow & Pike LLP",
        "Reconciliation: 7 h to 45 min",
    ),
    Testimonial(
        "Industry.Legal",
        "The gap report alone paid for Ledgerly. Associates found eleven unbilled hours "
        "each in the first month, every one of them genuine work.",
        "Daniel Ortega",
        "Practice Manager",
        "Ortega Klein Family Law",
        "+11 billable hours per lawyer per month",
    ),
    Testimonial(
        "Industry.RealEstate",
        "We have nine commission plans across thirty agents. Closing statements used to take "
        "an afternoon; Ledgerly drafts them while we are still at the table.",
        "Priya Natarajan",
        "Broker of Record",
        "Northgate Realty",
        "Closing statements in 10 minutes",
    ),
    Testimonial(
        "Industry.RealEstate",
        "Owners get their statements on the second of the month, every month, and deposit "
        "disputes dropped to almost nothing once tenants could see each deduction.",
        "Tom Lindqvist",
        "Director",
        "Harbourview Property Management",
        "Deposit disputes down 70%",
    ),
    Testimonial(
        "Industry.Hospitality",
        "Private dining deposits were a mess of card slips and transfers. Now the deposit "
        "link goes with the confirmation email and the balance is on the booking.",
        "Giulia Romano",
        "General Manager",
        "Osteria Vento",
        "No unpaid event balances in 14 months",
    ),
    Testimonial(
        "Industry.Hospitality",
        "Conference organisers get one master invoice with every guest broken out. What used "
        "to take our night auditor two hours takes six minutes.",
        "Kwame Mensah",
        "Finance Director",
        "Meridian Harbour Hotels",
        "Group invoicing: 2 h to 6 min",
    ),
    Testimonial(
        "Industry.Healthcare",
        "Patients approve their estimate before they come in, so there are no surprises at "
        "the desk. Billing calls have halved.",
        "Dr. Hannah Weiss",
        "Owner",
        "Lakeside Physiotherapy",
        "Billing calls down 52%",
    ),
    Testimonial(
        "Industry.Healthcare",
        "Payment plans used to live in a notebook. Ledgerly collects every instalment on time "
        "and patients get a reminder before each one.",
        "Carlos Mendes",
        "Practice Administrator",
        "Bright Smile Dental Group",
        "Instalments collected on time: 97%",
    ),
    Testimonial(
        "Industry.Agency",
        "Account leads see retainer burn-down before finance does. We have not had an "
        "end-of-month overage argument since we switched.",
        "Sofia Brandt",
        "Operations Director",
        "Field & Form Studio",
        "Recovered 12% more billable hours",
    ),
    Testimonial(
        "Industry.Agency",
        "Milestone approved in the morning, invoice in the client's inbox by lunch. Our "
        "cash cycle shrank by almost two weeks.",
        "Jordan Pierce",
        "Founder",
        "Pierce Digital",
        "Cash cycle 11 days shorter",
    ),
)

LEGAL_CASE_STUDY = CaseStudy(
    title="How Harrow & Pike cut debtor days from 64 to 23",
    firm="Harrow & Pike LLP, a four-partner commercial practice",
    summary=(
        "Harrow & Pike billed monthly from spreadsheets and a legacy accounts package. "
        "Pre-bills circulated by email for a week, and client money was reconciled by hand."
    ),
    results=(
        ("64 → 23", "debtor days"),
        ("7 h → 45 min", "monthly trust reconciliation"),
        ("+9%", "realisation in the first quarter"),
    ),
    paragraphs=(
        "In the first month the firm moved time capture into Ledgerly and switched on the "
        "weekly gap report. Partners review pre-bills on screen on the 25th; invoices go out "
        "on the 28th with a payment link, and reminders follow on day 7 and day 21.",
        "The trust ledgers were migrated matter by matter with opening balances agreed to the "
        "bank. Since then the three-way reconciliation has balanced every month, and the "
        "firm's last compliance inspection closed with no findings.",
    ),
)

FAQ: tuple[Question, ...] = (
    Question(
        "How long does it take to get started?",
        "Most firms send their first invoice on the day they sign up. Importing clients, "
        "open matters and unbilled time from a spreadsheet or another system usually takes "
        "an afternoon, and our onboarding team will do it for you on the Practice and Firm plans.",
    ),
    Question(
        "Can I keep my accounting software?",
        "Yes. Ledgerly handles billing, payments and client money; invoices, payments and "
        "fees are posted to your general ledger in the accounting package you already use, "
        "once a day or in real time.",
    ),
    Question(
        "Do my clients need an account to pay?",
        "No. Every invoice has a secure payment link. Clients who want to see their history "
        "can use the client portal, but nobody is forced to create a password to pay you.",
    ),
    Question(
        "Is trust accounting available outside the legal plan?",
        "Trust and deposit ledgers are part of the Practice and Firm plans for every "
        "industry: property managers use them for security deposits, venues for event "
        "deposits and agencies for client-funded media budgets.",
    ),
    Question(
        "What does the free trial include?",
        "Fourteen days of the Practice plan with no card required. Invoices you send during "
        "the trial are real and payments go to your account; if you do not subscribe, your "
        "data stays available for export for ninety days.",
    ),
    Question(
        "How is my data protected?",
        "Data is encrypted in transit and at rest, stored in the region you choose, and "
        "backed up every hour. Access is logged, staff access requires your approval, and we "
        "publish an independent security audit every year.",
    ),
    Question(
        "Can I bill in more than one currency?",
        "Yes. Each client has a billing currency and language; exchange rates are recorded "
        "on the invoice date so your reports always reconcile.",
    ),
    Question(
        "What happens to my data if I leave?",
        "You can export everything, clients, invoices, time and ledgers, as CSV and PDF at "
        "any time. We keep a read-only copy for ninety days after cancellation and then "
        "delete it.",
    ),
    Question(
        "Do you offer discounts for non-profits or start-ups?",
        "Registered charities and legal aid practices get 30 percent off any plan, and firms "
        "in their first year of trading get their first three months at half price.",
    ),
    Question(
        "Who answers support requests?",
        "Our support team is made up of former bookkeepers and practice managers. They reply "
        "within four working hours on every plan, and within one hour on Firm.",
    ),
)

CUSTOMER_LOGOS: tuple[str, ...] = (
    "Harrow & Pike",
    "Northgate Realty",
    "Meridian Harbour",
    "Lakeside Physio",
    "Field & Form",
    "Osteria Vento",
    "Bright Smile Dental",
    "Pierce Digital",
)

INTEGRATIONS: tuple[str, ...] = (
    "QuickBooks Online",
    "Xero",
    "Sage Intacct",
    "NetSuite",
    "Stripe",
    "GoCardless",
    "Microsoft 365",
    "Google Workspace",
    "Clio",
    "AppFolio",
    "Slack",
    "Zapier",
)
