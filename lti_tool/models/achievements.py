"""Micro-credential definitions (OB 3.0 `Achievement`), their images, alignments and the
issuer profile each tenant publishes them under."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, CreatedAtMixin, utcnow

# OB 3.0 `achievementType` (an extensible enum: custom values start with "ext:").
ACHIEVEMENT_TYPES = (
    "Achievement",
    "ApprenticeshipCertificate",
    "Assessment",
    "Assignment",
    "AssociateDegree",
    "Award",
    "Badge",
    "BachelorDegree",
    "Certificate",
    "CertificateOfCompletion",
    "Certification",
    "CommunityService",
    "Competency",
    "Course",
    "CoCurricular",
    "Degree",
    "Diploma",
    "DoctoralDegree",
    "Fieldwork",
    "GeneralEducationDevelopment",
    "JourneymanCertificate",
    "LearningProgram",
    "License",
    "Membership",
    "MasterCertificate",
    "MasterDegree",
    "MicroCredential",
    "ProfessionalDoctorate",
    "QualityAssuranceCredential",
    "ResearchDoctorate",
    "SecondarySchoolDiploma",
)

# OB 3.0 `ResultDescription.resultType` values we can describe and check.
RESULT_TYPES = ("Percent", "LetterGrade", "RubricCriterionLevel")


class IssuerProfile(Base):
    """The OB 3.0 issuer `Profile` fields a tenant shows on its credentials."""

    __tablename__ = "issuer_profiles"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Achievement(CreatedAtMixin, Base):
    """A micro-credential definition of one tenant, platform-wide or scoped to one course."""

    __tablename__ = "achievements"
    __table_args__ = (Index(None, "platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    # NULL: platform-wide. No ON DELETE: a course with credentials cannot silently vanish.
    context_id: Mapped[int | None] = mapped_column(ForeignKey("contexts.id"), default=None)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    criteria_narrative: Mapped[str | None] = mapped_column(Text, default=None)
    criteria_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    achievement_type: Mapped[str] = mapped_column(String(64), default="MicroCredential")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    validity_days: Mapped[int | None] = mapped_column(default=None)
    evidence_required: Mapped[bool] = mapped_column(default=False)
    # {"result_type": "Percent", "name": ..., "value_min": 0, "value_max": 100} or
    # {"result_type": "RubricCriterionLevel" | "LetterGrade", "name": ..., "levels": [...]}
    result_description: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    alignments: Mapped[list[AchievementAlignment]] = relationship(
        back_populates="achievement",
        cascade="all, delete-orphan",
        order_by="AchievementAlignment.position",
    )
    image: Mapped[AchievementImage | None] = relationship(
        cascade="all, delete-orphan", uselist=False, lazy="select"
    )

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class AchievementImage(Base):
    """The validated badge image (PNG or sanitised SVG), kept out of the definition row so
    listing achievements never drags the bytes along."""

    __tablename__ = "achievement_images"

    achievement_id: Mapped[int] = mapped_column(
        ForeignKey("achievements.id", ondelete="CASCADE"), primary_key=True
    )
    media_type: Mapped[str] = mapped_column(String(32))  # image/png | image/svg+xml
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(default=None)
    height: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AchievementAlignment(Base):
    """OB 3.0 `Alignment`: the competency framework item an achievement stands for."""

    __tablename__ = "achievement_alignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(
        ForeignKey("achievements.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    target_name: Mapped[str] = mapped_column(String(255))
    target_url: Mapped[str] = mapped_column(String(2048))
    target_description: Mapped[str | None] = mapped_column(Text, default=None)
    target_framework: Mapped[str | None] = mapped_column(String(255), default=None)  # ESCO, ...
    target_code: Mapped[str | None] = mapped_column(String(255), default=None)
    target_type: Mapped[str | None] = mapped_column(String(64), default=None)  # CFItem, ...

    achievement: Mapped[Achievement] = relationship(back_populates="alignments")
