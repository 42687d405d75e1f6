"""From CFPB product / issue names to our business lines and reasons.

CFPB renamed its products over the years; every name seen in its public data is mapped. Where a row has an
issue (the ``cfpb-c`` source) the issue gives the reason. Elsewhere the reason is derived weakly: the first
narrative pattern in :data:`WEAK_REASON_PATTERNS` that matches, else the line's default reason
(:data:`LINE_DEFAULT_REASON`, e.g. collection conduct for debt collection, report error for credit reporting).
"""

from __future__ import annotations

import re

from schemas import BusinessLine, Reason

L = BusinessLine
R = Reason

PRODUCT_LINES: dict[str, BusinessLine] = {
    "payday loan, title loan, or personal loan": L.loans_mortgages,
    "payday loan, title loan, personal loan, or advance loan": L.loans_mortgages,
    "payday loan": L.loans_mortgages,
    "consumer loan": L.loans_mortgages,
    "vehicle loan or lease": L.loans_mortgages,
    "student loan": L.loans_mortgages,
    "mortgage": L.loans_mortgages,
    "credit reporting, repair, or other": L.credit_reporting,
    "credit reporting, credit repair services, or other personal consumer reports": L.credit_reporting,
    "credit reporting or other personal consumer reports": L.credit_reporting,
    "credit reporting": L.credit_reporting,
    "debt collection": L.debt_collection,
    "credit card or prepaid card": L.credit_cards,
    "credit card": L.credit_cards,
    # Prepaid cards are card-scheme products the cards department owns, like credit cards (design.md).
    "prepaid card": L.credit_cards,
    "checking or savings account": L.deposits_accounts,
    "bank account or service": L.deposits_accounts,
    "money transfer, virtual currency, or money service": L.payments_transfers,
    "money transfers": L.payments_transfers,
    "virtual currency": L.payments_transfers,
    "other financial service": L.other,
    "debt or credit management": L.other,
}

ISSUE_REASONS: dict[str, Reason] = {
    "charged fees or interest you didn't expect": R.fees_pricing,
    "problem when making payments": R.operational_error,
    "struggling to pay your loan": R.contract_terms,
    "problem with the payoff process at the end of the loan": R.operational_error,
    "getting the loan": R.rules_policy,
    "getting a line of credit": R.rules_policy,
    "incorrect information on your report": R.credit_report_error,
    "problem with additional add-on products or services": R.mis_selling,
    "received a loan you didn't apply for": R.unauthorised_loss,
    "improper use of your report": R.credit_report_error,
    "can't stop withdrawals from your bank account": R.operational_error,
    "vehicle was repossessed or sold the vehicle": R.collection_conduct,
    "can't contact lender or servicer": R.other,
    "money was taken from your bank account on the wrong day or for the wrong amount": R.operational_error,
    "loan payment wasn't credited to your account": R.operational_error,
    "was approved for a loan, but didn't receive the money": R.operational_error,
    "problem with a credit reporting company's investigation into an existing problem": R.credit_report_error,
    "problem with a company's investigation into an existing problem": R.credit_report_error,
    "problem with cash advance": R.contract_terms,
    "credit limit changed": R.rules_policy,
    "credit monitoring or identity theft protection services": R.mis_selling,
    "vehicle was damaged or destroyed the vehicle": R.collection_conduct,
    "unable to get your credit report or credit score": R.credit_report_error,
    "problem with fraud alerts or security freezes": R.information_security,
    "property was damaged or destroyed property": R.other,
    # Older and newer wordings of the issues above.
    "improper use of my credit report": R.credit_report_error,
    "credit reporting company's investigation": R.credit_report_error,
    "unable to get credit report/credit score": R.credit_report_error,
    "incorrect information on credit report": R.credit_report_error,
    "repossession": R.collection_conduct,
    "fraud or scam": R.unauthorised_loss,
    "identity theft / fraud / embezzlement": R.unauthorised_loss,
    "credit monitoring or identity protection": R.mis_selling,
    "identity theft protection or other monitoring services": R.mis_selling,
}

LINE_DEFAULT_REASON: dict[BusinessLine, Reason] = {
    L.credit_reporting: R.credit_report_error,
    L.debt_collection: R.collection_conduct,
    L.loans_mortgages: R.contract_terms,
    L.credit_cards: R.operational_error,
    L.deposits_accounts: R.operational_error,
    L.payments_transfers: R.operational_error,
    L.other: R.other,
}

# Ordered: the first match wins. Credit-reporting and collection rows keep their line's reason, because a
# fraud or fee word in a credit-report dispute is still a credit-report dispute.
WEAK_REASON_PATTERNS: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (
        R.unauthorised_loss,
        re.compile(
            r"\b(unauthori[sz]ed (charge|transaction|withdrawal|transfer)s?|scam(med)?"
            r"|stolen (card|money|funds)"
            r"|did(n't| not) (authori[sz]e|make) (th(is|ese)|the)"
            r" (charge|transaction|transfer|withdrawal)s?)\b"
        ),
    ),
    (
        R.fees_pricing,
        re.compile(
            r"\b(overdraft fees?|late fees?|annual fee|fees? (was|were) charged|"
            r"charged (a|an|me) \w* ?fee|interest rate|excessive fees?)\b"
        ),
    ),
    (R.collection_conduct, re.compile(r"\b(repossess\w*|harass\w*)\b")),
    (
        R.contract_terms,
        re.compile(
            r"\b(loan modification|modification|forbearance|foreclos\w*|deferment|"
            r"refinanc\w*|escrow)\b"
        ),
    ),
    (
        R.rules_policy,
        re.compile(
            r"\b(closed my account|froze my account|account (was )?(closed|frozen)|"
            r"hold on (my )?(funds|deposit|check))\b"
        ),
    ),
    (
        R.operational_error,
        re.compile(
            r"\b(not (been )?credited|misapplied|never received|wrong amount|"
            r"charged twice|double charged|error)\b"
        ),
    ),
)
KEEP_LINE_REASON = frozenset({L.credit_reporting, L.debt_collection})


# Product families, for flattening the file's product mix in training: a family is one kind of product under
# every name CFPB gave it (first matching key wins).
PRODUCT_FAMILIES: tuple[str, ...] = (
    "payday",
    "mortgage",
    "student loan",
    "vehicle loan",
    "consumer loan",
    "credit reporting",
    "debt collection",
    "prepaid card",
    "credit card",
    "checking or savings",
    "bank account",
    "money transfer",
    "virtual currency",
)


def product_family(product: str) -> str:
    lowered = product.strip().lower()
    family = next((f for f in PRODUCT_FAMILIES if f in lowered), lowered)
    return "checking or savings" if family == "bank account" else family


def line_for_product(product: str) -> BusinessLine | None:
    return PRODUCT_LINES.get(product.strip().lower())


def owning_reason(line: BusinessLine, issue: str) -> Reason:
    """The reason that decides which department owns a labelled complaint (the evaluation's gold).

    The CFPB issue where the row has one (unauthorised loans → fraud, repossession → collections, report
    errors → credit reporting ...), else the line's default reason, which routes to the department that owns
    the product. Never derived from the narrative: gold must not share heuristics with the classifier.
    """
    mapped = ISSUE_REASONS.get(issue.strip().lower()) if issue else None
    return mapped if mapped is not None else LINE_DEFAULT_REASON.get(line, R.other)


def reason_for(line: BusinessLine, issue: str, narrative: str) -> tuple[Reason, str]:
    """The reason label and how it was obtained: ``issue``, ``pattern`` or ``default``."""
    mapped = ISSUE_REASONS.get(issue.strip().lower()) if issue else None
    if mapped is not None:
        return mapped, "issue"
    if line not in KEEP_LINE_REASON:
        lowered = narrative.lower()
        for reason, pattern in WEAK_REASON_PATTERNS:
            if pattern.search(lowered):
                return reason, "pattern"
    return LINE_DEFAULT_REASON.get(line, R.other), "default"
