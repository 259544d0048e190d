"""Mail authentication: SPF, DKIM, ARC and DMARC checks of inbound mail, DKIM signing of outbound.

`check_message` and `sign_message` block (DNS, hashing): call them from the thread pool.
"""

from mfserver.mailauth.arccheck import ArcResult
from mfserver.mailauth.dkimcheck import DkimResult
from mfserver.mailauth.dmarc import DmarcResult
from mfserver.mailauth.headers import strip_forged_results
from mfserver.mailauth.inbound import check_message
from mfserver.mailauth.results import AuthenticationResults
from mfserver.mailauth.signing import SigningError, sign_message
from mfserver.mailauth.spfcheck import SpfResult

__all__ = ["ArcResult", "AuthenticationResults", "DkimResult", "DmarcResult", "SigningError",
           "SpfResult", "check_message", "sign_message", "strip_forged_results"]
