"""帮我卖 listings (an elder's goods for buyers from town) and the buyers who asked for them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

LISTING_STATUSES = ("open", "sold", "withdrawn")


class Listing(Base):
    """One lot for sale, checked and listed by the 院长; place columns are copied so scoping needs no joins."""

    __tablename__ = "market_listing"
    __table_args__ = (sa.Index("ix_market_listing_status_village", "status", "village_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("request.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), index=True)
    courtyard_id: Mapped[int] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"), index=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    item: Mapped[str] = mapped_column(sa.String(60))
    quantity: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    unit: Mapped[str] = mapped_column(sa.String(10))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))  # yuan per unit
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    photo_url: Mapped[str] = mapped_column(sa.String(300), default="")
    # What buyers see instead of a name ("王家"): never an elder's full name or phone number.
    seller_label: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    interests: Mapped[list[BuyerInterest]] = relationship(back_populates="listing", order_by="BuyerInterest.id")


class BuyerInterest(Base):
    """我要买: a buyer left a name and phone for the 院长 to connect them with the seller."""

    __tablename__ = "market_interest"
    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(sa.ForeignKey("market_listing.id"), index=True)
    buyer_name: Mapped[str] = mapped_column(sa.String(40))
    buyer_phone: Mapped[str] = mapped_column(sa.String(20))
    message: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime]
    connected_at: Mapped[dt.datetime | None]
    listing: Mapped[Listing] = relationship(back_populates="interests")
