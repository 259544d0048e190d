"""DMARC (RFC 7489): discovery, alignment, policies, pct, and messages with odd authors."""

from __future__ import annotations

import pytest

from mfserver.mailauth.dkimcheck import DkimResult
from mfserver.mailauth.dmarc import evaluate, parse_record
from mfserver.mailauth.headers import split_header
from mfserver.mailauth.spfcheck import SpfResult
from mfserver.resolver import StaticResolver

NO_SPF = SpfResult("none", "mailfrom", "")
NO_DKIM: list[DkimResult] = []


def spf(result: str, domain: str) -> SpfResult:
    return SpfResult(result, "mailfrom", domain)


def dkim(result: str, domain: str) -> list[DkimResult]:
    return [DkimResult(result, domain, "s", "rsa-sha256", "AbCdEfGh")]


def message(*authors: str) -> list:
    header = b"".join(b"From: " + author.encode() + b"\r\n" for author in authors)
    return split_header(header + b"Subject: x\r\n\r\nbody\r\n")[0]


def dmarc(record: str | None, *, author: str = "ann@example.com", spf_result=NO_SPF,
          dkim_results=NO_DKIM, at: str = "example.com", sample: float = 0.5, **extra):
    records = {(f"_dmarc.{at}", "TXT"): [record]} if record else {}
    resolver = StaticResolver({**records, **extra.get("records", {})},
                              failing=extra.get("failing", ()))
    return evaluate(message(author), spf_result, dkim_results, resolver,
                    sample=lambda: sample)


def test_pass_by_spf_alignment_only():
    outcome = dmarc("v=DMARC1; p=reject", spf_result=spf("pass", "example.com"),
                    dkim_results=dkim("fail", "example.com"))
    assert (outcome.result, outcome.policy, outcome.disposition, outcome.from_domain) == (
        "pass", "reject", "none", "example.com")


def test_pass_by_dkim_alignment_only():
    outcome = dmarc("v=DMARC1; p=reject", spf_result=spf("pass", "bounces.provider.example"),
                    dkim_results=dkim("pass", "example.com"))
    assert outcome.result == "pass"


@pytest.mark.parametrize("policy", ["reject", "quarantine", "none"])
def test_fail_applies_the_published_policy(policy):
    outcome = dmarc(f"v=DMARC1; p={policy}", spf_result=spf("pass", "evil.example"),
                    dkim_results=dkim("pass", "evil.example"))
    assert (outcome.result, outcome.policy, outcome.disposition) == ("fail", policy, policy)


def test_unaligned_failures_do_not_count():
    outcome = dmarc("v=DMARC1; p=reject", spf_result=spf("fail", "example.com"),
                    dkim_results=dkim("fail", "example.com"))
    assert (outcome.result, outcome.disposition) == ("fail", "reject")


def test_subdomain_author_gets_sp_from_the_organizational_domain():
    kwargs = {"author": "ann@news.example.com", "spf_result": spf("pass", "evil.example")}
    assert dmarc("v=DMARC1; p=none; sp=reject", **kwargs).disposition == "reject"
    assert dmarc("v=DMARC1; p=quarantine", **kwargs).disposition == "quarantine"
    # A record at the subdomain itself applies its p, not the parent's sp.
    own = dmarc("v=DMARC1; p=none", at="news.example.com", **kwargs,
                records={("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject; sp=reject"]})
    assert (own.policy, own.disposition) == ("none", "none")


def test_relaxed_alignment_accepts_the_same_organizational_domain():
    outcome = dmarc("v=DMARC1; p=reject", author="ann@news.example.com", at="news.example.com",
                    spf_result=spf("pass", "bounce.example.com"),
                    dkim_results=dkim("pass", "mail.example.com"))
    assert outcome.result == "pass"


def test_strict_alignment_needs_the_exact_domain():
    common = {"author": "ann@news.example.com", "at": "news.example.com"}
    spf_only = {"spf_result": spf("pass", "bounce.example.com")}
    dkim_only = {"dkim_results": dkim("pass", "example.com")}
    assert dmarc("v=DMARC1; p=reject; aspf=s", **common, **spf_only).result == "fail"
    assert dmarc("v=DMARC1; p=reject; aspf=s", **common, **dkim_only).result == "pass"
    assert dmarc("v=DMARC1; p=reject; adkim=s", **common, **dkim_only).result == "fail"
    assert dmarc("v=DMARC1; p=reject; adkim=s", **common, **spf_only).result == "pass"
    exact = dmarc("v=DMARC1; p=reject; adkim=s; aspf=s", **common,
                  dkim_results=dkim("pass", "NEWS.example.com"))
    assert exact.result == "pass"


def test_alignment_uses_the_public_suffix_list():
    """co.uk is a public suffix: a.co.uk and b.co.uk are different organizations."""
    outcome = dmarc("v=DMARC1; p=reject", author="ann@mail.a.co.uk", at="a.co.uk",
                    dkim_results=dkim("pass", "b.co.uk"))
    assert outcome.result == "fail"
    outcome = dmarc("v=DMARC1; p=reject", author="ann@mail.a.co.uk", at="a.co.uk",
                    dkim_results=dkim("pass", "x.a.co.uk"))
    assert outcome.result == "pass"


def test_organizational_domain_fallback_is_looked_up():
    resolver = StaticResolver({("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject"]})
    outcome = evaluate(message("ann@a.b.example.com"), NO_SPF, NO_DKIM, resolver,
                       sample=lambda: 0.5)
    assert (outcome.result, outcome.disposition) == ("fail", "reject")
    assert [name for name, _ in resolver.queries] == ["_dmarc.a.b.example.com",
                                                      "_dmarc.example.com"]


def test_pct_zero_applies_the_next_milder_policy():
    fail = {"spf_result": spf("pass", "evil.example")}
    assert dmarc("v=DMARC1; p=reject; pct=0", **fail).disposition == "quarantine"
    assert dmarc("v=DMARC1; p=quarantine; pct=0", **fail).disposition == "none"


def test_pct_samples_the_messages():
    fail = {"spf_result": spf("pass", "evil.example")}
    assert dmarc("v=DMARC1; p=reject; pct=30", sample=0.29, **fail).disposition == "reject"
    assert dmarc("v=DMARC1; p=reject; pct=30", sample=0.30, **fail).disposition == (
        "quarantine")


def test_no_record_is_none():
    outcome = dmarc(None, spf_result=spf("fail", "example.com"))
    assert (outcome.result, outcome.disposition, outcome.policy) == ("none", "none", "")


def test_records_that_are_not_dmarc_are_ignored():
    outcome = dmarc("v=spf1 -all")
    assert outcome.result == "none"


def test_two_records_are_no_policy():
    resolver = StaticResolver({("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject",
                                                               "v=DMARC1; p=none"]})
    assert evaluate(message("a@example.com"), NO_SPF, NO_DKIM, resolver).result == "none"


def test_dns_failure_is_temperror():
    outcome = dmarc(None, failing=["_dmarc.example.com"])
    assert (outcome.result, outcome.disposition) == ("temperror", "none")


def test_aligned_identity_with_temporary_error_is_temperror_not_fail():
    outcome = dmarc("v=DMARC1; p=reject", dkim_results=dkim("temperror", "example.com"))
    assert (outcome.result, outcome.disposition) == ("temperror", "none")
    outcome = dmarc("v=DMARC1; p=reject", spf_result=spf("temperror", "example.com"))
    assert outcome.result == "temperror"
    outcome = dmarc("v=DMARC1; p=reject", dkim_results=dkim("temperror", "other.example"))
    assert outcome.result == "fail"


@pytest.mark.parametrize("record", ["v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; p=none; sp=x"])
def test_record_without_valid_policy_is_permerror(record):
    assert dmarc(record).result == "permerror"


def test_record_without_valid_policy_but_with_rua_is_p_none():
    outcome = dmarc("v=DMARC1; p=block; rua=mailto:reports@example.com",
                    spf_result=spf("pass", "evil.example"))
    assert (outcome.result, outcome.policy, outcome.disposition) == ("fail", "none", "none")


def test_bad_optional_tags_take_defaults():
    record = parse_record("v=DMARC1; p=Reject; adkim=x; aspf=; pct=150; fo=9; unknown=1")
    assert (record.policy, record.subdomain_policy, record.adkim, record.aspf, record.pct) == (
        "reject", "reject", "r", "r", 100)


def test_several_from_fields_never_pass():
    resolver = StaticResolver({("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject"],
                               ("_dmarc.evil.example", "TXT"): ["v=DMARC1; p=none"]})
    # The forger's own domain passes, the other From is the victim's: the victim's policy wins.
    forged = evaluate(message("mallory@evil.example", "ceo@example.com"),
                      spf("pass", "evil.example"), dkim("pass", "evil.example"), resolver)
    assert (forged.result, forged.from_domain, forged.disposition) == (
        "fail", "example.com", "reject")
    # Both From fields aligned and passing: still not a pass.
    both = evaluate(message("a@example.com", "b@example.com"), spf("pass", "example.com"),
                    NO_DKIM, resolver)
    assert (both.result, both.disposition) == ("permerror", "none")


def test_one_from_field_with_several_authors_uses_the_strictest_failure():
    resolver = StaticResolver({("_dmarc.a.example", "TXT"): ["v=DMARC1; p=quarantine"],
                               ("_dmarc.b.example", "TXT"): ["v=DMARC1; p=reject"]})
    outcome = evaluate(message("x@a.example, y@b.example"), NO_SPF, NO_DKIM, resolver)
    assert (outcome.result, outcome.from_domain, outcome.disposition) == (
        "fail", "b.example", "reject")
    passing = evaluate(message("x@a.example, y@b.example"), NO_SPF,
                       dkim("pass", "a.example") + dkim("pass", "b.example"), resolver)
    assert passing.result == "pass"


@pytest.mark.parametrize("authors", [(), ("undisclosed-recipients:;",), ("no address",),
                                     ("x@",), ("x@[192.0.2.1]",), ("",)])
def test_missing_or_unusable_from_is_permerror(authors):
    outcome = evaluate(message(*authors), spf("pass", "example.com"), NO_DKIM,
                       StaticResolver())
    assert (outcome.result, outcome.disposition) == ("permerror", "none")


def test_too_many_author_domains_are_rejected_without_lookups():
    resolver = StaticResolver()
    authors = ", ".join(f"x@d{number}.example" for number in range(21))
    outcome = evaluate(message(authors), NO_SPF, NO_DKIM, resolver)
    assert (outcome.result, outcome.disposition) == ("permerror", "reject")
    assert resolver.queries == []
