"""Who sees and manages which rewards, redemptions and notices, built on the place rules of core.people.access.

A 院长 manages their 小院: its rewards and notices, and the redemptions of its households; village
staff their village; the town all of it. Notices for the whole town are posted by the town only.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.i18n import N_
from core.models.notices import Notice
from core.models.places import Courtyard, Village
from core.models.rewards import Redemption, Reward
from core.people.access import Viewer, can_see_place, courtyard_scope, get_courtyard_for, place_clause


def managed_village_ids(user: Viewer) -> sa.Select:
    """A select of the ids of villages with a 小院 the user manages."""
    return (sa.select(Courtyard.village_id).join(Village, Courtyard.village_id == Village.id)
            .where(courtyard_scope(user)).distinct())


def reward_scope(user: Viewer):
    """A clause on Reward: the catalogues of the villages the user works in."""
    return Reward.village_id.in_(managed_village_ids(user))


def get_reward_for(session: Session, user: Viewer, reward_id: int) -> Reward:
    """A reward the user may change (a 院长: only their 小院's own rewards); NotFound otherwise."""
    reward = session.scalar(sa.select(Reward).where(Reward.id == reward_id, reward_scope(user)))
    if reward is None or (user.role == "courtyard_head" and reward.courtyard_id != user.courtyard_id):
        raise NotFound(N_("找不到这个奖品"))
    return reward


def reward_place(session: Session, user: Viewer, *, village_id: int | None, courtyard_id: int | None
                 ) -> tuple[int, int | None]:
    """(village_id, courtyard_id) of a new reward: a 院长's always go to their 小院; others' to a place they manage."""
    if user.role == "courtyard_head":
        courtyard_id = user.courtyard_id
    if courtyard_id is not None:
        return get_courtyard_for(session, user, courtyard_id).village_id, courtyard_id
    villages = list(session.scalars(managed_village_ids(user).order_by(Courtyard.village_id)))
    chosen = village_id or (villages[0] if villages else None)
    if chosen is None or chosen not in villages:
        raise PermissionDenied(N_("不能为这个村添加奖品"))
    return chosen, None


def redemption_scope(user: Viewer):
    """A clause on Redemption: redemptions of the households of the user's places."""
    return place_clause(user, courtyard_col=Redemption.courtyard_id, village_col=Redemption.village_id,
                        town_col=Redemption.town_id)


def get_redemption_for(session: Session, user: Viewer, redemption_id: int) -> Redemption:
    """A redemption the user may act on; NotFound otherwise."""
    item = session.scalar(sa.select(Redemption).where(Redemption.id == redemption_id, redemption_scope(user)))
    if item is None:
        raise NotFound(N_("找不到这次兑换"))
    return item


def find_open_redemption_for(session: Session, user: Viewer, code: str) -> Redemption:
    """The open redemption with this 4-digit pickup code among the user's places; NotFound otherwise.

    A code is unique among a village's open redemptions only; for staff of several villages the
    first village (by id) wins.
    """
    code = (code or "").strip()
    if len(code) != 4 or not code.isdigit():
        raise InvalidInput(N_("取货码是 4 位数字"))
    found = session.scalar(sa.select(Redemption).where(Redemption.open_code == code, redemption_scope(user))
                           .order_by(Redemption.village_id, Redemption.id).limit(1))
    if found is None:
        raise NotFound(N_("没有这个取货码的待取兑换"))
    return found


def notice_scope(user: Viewer):
    """A clause on Notice: what the user sees in the console (their town's town-wide notices, their places')."""
    if user.role == "admin":
        return sa.true()
    if user.role == "town":
        return Notice.town_id == user.town_id
    if user.role in ("village", "grid_worker"):
        return sa.and_(Notice.town_id == user.town_id,
                       sa.or_(Notice.audience == "town", Notice.village_id == user.village_id))
    return sa.and_(Notice.town_id == user.town_id, sa.or_(
        Notice.audience == "town", sa.and_(Notice.audience == "village", Notice.village_id == user.village_id),
        Notice.courtyard_id == user.courtyard_id))


def may_edit_notice(user: Viewer, notice: Notice) -> bool:
    """Whether the user may change a notice: town-wide ones the town only; others those of their places."""
    if notice.audience == "town":
        return user.role in ("admin", "town") and (user.role == "admin" or notice.town_id == user.town_id)
    return can_see_place(user, courtyard_id=notice.courtyard_id if notice.audience == "courtyard" else None,
                         village_id=notice.village_id if user.role != "courtyard_head" else None,
                         town_id=notice.town_id)


def get_notice_for_edit(session: Session, user: Viewer, notice_id: int) -> Notice:
    """A notice the user sees and may change; NotFound otherwise."""
    notice = session.scalar(sa.select(Notice).where(Notice.id == notice_id, notice_scope(user)))
    if notice is None or not may_edit_notice(user, notice):
        raise NotFound(N_("找不到这条通知"))
    return notice


def notice_audiences(user: Viewer) -> tuple[str, ...]:
    """The audiences `user` may post a notice to, their own scope first (the form's default)."""
    if user.role in ("admin", "town"):
        return ("town", "village", "courtyard")
    if user.role == "courtyard_head":
        return ("courtyard",)
    return ("village", "courtyard")


def notice_place(session: Session, user: Viewer, *, audience: str, courtyard_id: int | None
                 ) -> tuple[int, int | None, int | None]:
    """(town_id, village_id, courtyard_id) of a new notice for `audience` ("town", "village", "courtyard").

    Only the town posts to the whole town; a 院长 posts to their 小院 only; village and 小院 notices
    name a 小院 the user manages (a village notice goes to that 小院's village).
    """
    if audience == "town":
        if user.role not in ("admin", "town"):
            raise PermissionDenied(N_("只有镇里可以发全镇通知"))
        town_id = user.town_id or session.scalar(sa.select(Village.town_id).limit(1))
        if town_id is None:  # no town set up yet
            raise NotFound(N_("找不到这个地方"))
        return town_id, None, None
    if audience == "village" and user.role == "courtyard_head":
        raise PermissionDenied(N_("院长只能发本小院的通知"))
    courtyard = get_courtyard_for(session, user, courtyard_id or 0)
    town_id = user.town_id or session.get_one(Village, courtyard.village_id).town_id
    if audience == "village":
        return town_id, courtyard.village_id, None
    return town_id, courtyard.village_id, courtyard.id
