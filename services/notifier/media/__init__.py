"""The delivery media, one module each, and the one table of them the dispatcher reads.

To add a medium: write one module here implementing ``services.notifier.medium.Medium`` and list it below.
"""

from __future__ import annotations

from kernel.runtime import Runtime
from kernel.streams import Outbox
from services.notifier.mailer import Mailer
from services.notifier.media.email import EmailMedium
from services.notifier.media.sms import SmsMedium
from services.notifier.media.social import SocialMedium
from services.notifier.medium import Medium, media_table
from services.notifier.sms_providers import SmsProvider


def standard_media(runtime: Runtime, outbox: Outbox, mailer: Mailer, sms: SmsProvider) -> dict[str, Medium]:
    """E-mail, then SMS (the fallbacks in this order), then the social reply suggestion."""
    return media_table(
        [
            EmailMedium(runtime.settings, mailer),
            SmsMedium(runtime.settings, sms),
            SocialMedium(outbox, runtime.topics.notifications_social),
        ]
    )
