"""Staff roles in the admin: the "Support agent" group (created by migration
helpdesk/0003_support_agent_group, which lists its permissions); superusers need no group."""

from django.contrib.auth.models import Group

SUPPORT_AGENT_GROUP = "Support agent"


def support_agent_group() -> Group:
    return Group.objects.get(name=SUPPORT_AGENT_GROUP)
