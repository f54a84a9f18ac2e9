"""The page's words in Indonesian (first) and English, and how numbers are written."""

from __future__ import annotations

from typing import Final, Literal

from shared.contracts.types import WorkType

Language = Literal["id", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("id", "en")

WORDS: Final[dict[str, tuple[str, str]]] = {
    # key: (Indonesian, English)
    "site": ("Keterbukaan Bangkit Berdaya", "Bangkit Berdaya in the open"),
    "city": ("Kota Jambi", "Kota Jambi"),
    "intro": (
        "Usulan warga, anggaran, material dan gotong royong, dari peristiwa yang diterbitkan.",
        "Residents' proposals, budgets, materials and gotong royong, from the published events.",
    ),
    "skip": ("Langsung ke isi", "Skip to content"),
    "language": ("Bahasa", "Language"),
    "other_language": ("English", "Bahasa Indonesia"),
    "year": ("Tahun", "Year"),
    "show": ("Tampilkan", "Show"),
    "overview": ("Ringkasan kota", "City overview"),
    "kecamatan": ("Kecamatan", "Kecamatan (district)"),
    "kelurahan": ("Kelurahan", "Kelurahan"),
    "rt": ("RT", "RT"),
    "proposals": ("Usulan", "Proposals"),
    "proposal": ("Usulan", "Proposal"),
    "by_state": ("Usulan menurut tahap", "Proposals by stage"),
    "state": ("Tahap", "Stage"),
    "count": ("Jumlah", "Number"),
    "budget": ("Anggaran", "Budget"),
    "approved_budget": ("Anggaran disetujui", "Approved budget"),
    "ceiling": ("Pagu", "Ceiling (pagu)"),
    "share": ("Terpakai", "Used"),
    "no_ceiling": ("pagu belum diterbitkan", "no ceiling published"),
    "budget_chart": ("Anggaran disetujui terhadap pagu", "Approved budget against the ceiling"),
    "materials": ("Material", "Materials"),
    "materials_chart": (
        "Material: kebutuhan, dikirim, diterima",
        "Materials: bill, dispatched, delivered",
    ),
    "item": ("Barang", "Item"),
    "unit": ("Satuan", "Unit"),
    "bill": ("Kebutuhan", "Bill"),
    "dispatched": ("Dikirim", "Dispatched"),
    "delivered": ("Diterima", "Delivered"),
    "jobs_completed": ("Pekerjaan selesai", "Jobs completed"),
    "jobs_validated": ("Pekerjaan divalidasi", "Jobs validated"),
    "swadaya": ("Swadaya", "Swadaya (residents' own work)"),
    "volunteers": ("Relawan", "Volunteers"),
    "labour_days": ("Hari orang kerja", "Labour days"),
    "pledged": ("Dijanjikan", "Pledged"),
    "given": ("Diberikan", "Given"),
    "median_approval": (
        "Median hari dari pengajuan sampai persetujuan",
        "Median days from submission to approval",
    ),
    "median_completion": (
        "Median hari dari persetujuan sampai selesai",
        "Median days from approval to completion",
    ),
    "days": ("hari", "days"),
    "none_yet": ("belum ada", "none yet"),
    "map": ("Peta pekerjaan", "Map of jobs"),
    "map_desc": (
        "Titik menurut koordinat tiap pekerjaan; hijau: selesai, oranye: berjalan.",
        "Points by each job's coordinates; green: done, orange: under way.",
    ),
    "map_city_desc": (
        "Satu titik per kecamatan, di tengah pekerjaannya; angkanya: jumlah pekerjaan "
        "berkoordinat. Hijau: semua selesai, oranye: ada yang berjalan.",
        "One point per kecamatan, at the middle of its jobs; the number: its jobs with "
        "coordinates. Green: all done, orange: some under way.",
    ),
    "group_label": (
        "Kecamatan {name}: {count} pekerjaan, {done} selesai",
        "Kecamatan {name}: {count} jobs, {done} done",
    ),
    "map_listed": (
        "Peta menunjukkan usulan yang didaftar di halaman ini.",
        "The map shows the proposals listed on this page.",
    ),
    "no_points": ("Belum ada pekerjaan dengan koordinat.", "No job with coordinates yet."),
    "latest": ("Usulan terbaru", "Latest proposals"),
    "all_in": ("Semua usulan di", "Every proposal in"),
    "pages": ("Halaman daftar", "Pages of the list"),
    "listed": (
        "Usulan {first}\u2013{last} dari {total}",
        "Proposals {first}\u2013{last} of {total}",
    ),
    "previous": ("← Sebelumnya", "← Previous"),
    "next": ("Berikutnya →", "Next →"),
    "no_proposals": ("Belum ada usulan yang diterbitkan.", "No proposal published yet."),
    "downloads": ("Unduh data", "Download the data"),
    "figures_csv": ("Angka per kecamatan (CSV)", "Figures per kecamatan (CSV)"),
    "figures_json": ("Angka per kecamatan (JSON)", "Figures per kecamatan (JSON)"),
    "proposals_csv": ("Usulan (CSV)", "Proposals (CSV)"),
    "proposals_json": ("Usulan (JSON)", "Proposals (JSON)"),
    "work_type": ("Jenis pekerjaan", "Work type"),
    "dimensions": ("Ukuran", "Dimensions"),
    "location": ("Lokasi", "Location"),
    "progress": ("Kemajuan", "Progress"),
    "timeline": ("Riwayat", "Timeline"),
    "photos": ("Foto (rujukan)", "Photos (references)"),
    "no_photos": ("Belum ada foto.", "No photos yet."),
    "reason": ("Alasan", "Reason"),
    "when": ("Waktu", "When"),
    "step": ("Langkah", "Step"),
    "live_note": (
        "Halaman ini diperbarui sendiri saat ada peristiwa baru.",
        "This page updates itself when a new event arrives.",
    ),
    "noscript": (
        "Muat ulang halaman untuk melihat data terbaru.",
        "Reload the page to see the latest data.",
    ),
    "updated": ("Data diperbarui.", "Data updated."),
    "source": (
        "Sumber: peristiwa yang diterbitkan layanan Bangkit Berdaya. Tanpa data pribadi.",
        "Source: the events the Bangkit Berdaya services publish. No personal data.",
    ),
    "not_found": ("Tidak ditemukan", "Not found"),
    "back": ("Kembali ke ringkasan kota", "Back to the city overview"),
    "total": ("Kota Jambi", "Kota Jambi"),
    "percent_done": ("persen", "percent"),
}

STATES: Final[dict[str, tuple[str, str]]] = {
    "submitted": ("Diajukan", "Submitted"),
    "returned": ("Dikembalikan", "Returned"),
    "withdrawn": ("Ditarik", "Withdrawn"),
    "verified": ("Diverifikasi kelurahan", "Verified by the kelurahan"),
    "endorsed": ("Direkomendasikan kecamatan", "Endorsed by the kecamatan"),
    "approved": ("Disetujui kota", "Approved by the city"),
    "materials_fulfilled": ("Material lengkap", "Materials delivered"),
    "in_progress": ("Sedang dikerjakan", "Work in progress"),
    "completed": ("Selesai dikerjakan", "Completed"),
    "validated": ("Divalidasi dan diserahkan", "Validated and handed over"),
    "rejected": ("Ditolak", "Rejected"),
    "cancelled": ("Dibatalkan", "Cancelled"),
    "blocked": ("Tertahan", "Blocked"),
}

STEPS: Final[dict[str, tuple[str, str]]] = {
    "proposal.submitted": ("Usulan diajukan RT", "The RT submitted the proposal"),
    "proposal.resubmitted": ("Usulan diajukan kembali", "Proposal resubmitted"),
    "proposal.withdrawn": ("Usulan ditarik", "Proposal withdrawn"),
    "proposal.verified": ("Diverifikasi kelurahan", "Verified by the kelurahan"),
    "proposal.endorsed": ("Direkomendasikan kecamatan", "Endorsed by the kecamatan"),
    "proposal.returned": ("Dikembalikan untuk perbaikan", "Returned for revision"),
    "proposal.approved": ("Disetujui kota", "Approved by the city"),
    "proposal.rejected": ("Ditolak", "Rejected"),
    "proposal.cancelled": ("Dibatalkan", "Cancelled"),
    "material.unplannable": ("Material tidak dapat direncanakan", "Materials cannot be planned"),
    "material.reserved": ("Material dipesan dari gudang", "Materials reserved"),
    "material.shortage": ("Stok material kurang", "Not enough stock"),
    "material.released": ("Material dikembalikan ke gudang", "Materials released"),
    "material.dispatched": ("Material dikirim", "Materials dispatched"),
    "material.delivered": ("Material diterima RT", "Materials received by the RT"),
    "material.fulfilled": ("Semua material tiba", "Every material arrived"),
    "work.started": ("Gotong royong dimulai", "Gotong royong began"),
    "work.progress_reported": ("Laporan kemajuan", "Progress reported"),
    "work.completed": ("Pekerjaan selesai dilaporkan", "Work reported complete"),
    "work.validated": ("Divalidasi dan diserahkan", "Validated and handed over"),
    "work.returned": ("Laporan selesai dikembalikan", "Completion report returned"),
}

# Every work type of the contracts, in both languages (tests/unit/contracts/test_work_types.py).
WORK_TYPES: Final[dict[WorkType, tuple[str, str]]] = {
    "concrete_road": ("Jalan rabat beton", "Concrete road"),
    "drain": ("Drainase", "Drain"),
    "culvert": ("Gorong-gorong", "Culvert"),
}

ITEMS: Final[dict[str, tuple[str, str]]] = {
    "cement": ("Semen", "Cement"),
    "sand": ("Pasir", "Sand"),
    "gravel": ("Kerikil", "Gravel"),
    "split_stone": ("Batu split", "Split stone"),
}


# What stands for a figure not known (an en dash).
NOT_KNOWN: Final = "\u2013"


class Words:
    """What a template calls `t`: `t("site")`, `t.state("approved")`, `t.money(5)`."""

    def __init__(self, lang: Language) -> None:
        self.lang = lang
        self._index = LANGUAGES.index(lang)

    def __call__(self, key: str) -> str:
        return WORDS[key][self._index]

    def state(self, key: str) -> str:
        return _pick(STATES, key, self._index)

    def step(self, key: str) -> str:
        return _pick(STEPS, key, self._index)

    def work_type(self, key: str | None) -> str:
        if key in WORK_TYPES:  # a read model keeps what the event said, as text
            return WORK_TYPES[key][self._index]
        return key or ""

    def item(self, key: str) -> str:
        return _pick(ITEMS, key, self._index)

    def money(self, amount: int | None) -> str:
        return NOT_KNOWN if amount is None else f"Rp {self.number(amount)}"

    def number(self, value: float | None, decimals: int = 0) -> str:
        """`1.234,5` in Indonesian, `1,234.5` in English."""
        if value is None:
            return NOT_KNOWN
        text = f"{value:,.{decimals}f}"
        if self.lang == "id":
            text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        return text

    def quantity(self, value: float) -> str:
        return self.number(value, 0 if float(value).is_integer() else 1)

    def percent(self, share: float | None) -> str:
        return NOT_KNOWN if share is None else f"{self.number(share * 100, 1)} %"


def _pick(table: dict[str, tuple[str, str]], key: str, index: int) -> str:
    found = table.get(key)
    return found[index] if found else key


def language(given: str | None) -> Language:
    return "en" if given == "en" else "id"
