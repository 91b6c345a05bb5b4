"""The words of `/delegation`, in Vietnamese and English, with what each capacity means
(Decree 30/2020/NĐ-CP: KT. ký thay, TUQ. thừa ủy quyền, TL. thừa lệnh)."""

from __future__ import annotations

TEXT = {
    "vi": {
        "title": "Ủy quyền khi vắng mặt",
        "intro": "Trong thời gian ủy quyền, việc mới giao cho anh/chị được chuyển cho người "
        "được ủy quyền; người đó quyết định thay anh/chị với tư cách đã chọn. Việc đã giao "
        "trước đó vẫn ở lại với anh/chị.",
        "mine": "Ủy quyền của anh/chị",
        "mine_none": "Anh/chị không có ủy quyền nào đang có hiệu lực hoặc sắp tới.",
        "to_me": "Người khác ủy quyền cho anh/chị",
        "capacity": "Tư cách",
        "span": "từ {a} đến hết ngày {b}",
        "running": "đang có hiệu lực",
        "coming": "sắp tới",
        "end": "Kết thúc ngay",
        "cancel": "Hủy",
        "new": "Ủy quyền mới",
        "from": "Từ ngày",
        "until": "Đến hết ngày",
        "days": "Tính theo ngày giờ của cơ quan ({zone}).",
        "delegate_email": "Người được ủy quyền (địa chỉ thư điện tử của một người dùng)",
        "KT": "KT. (ký thay): cấp phó ký thay người đứng đầu theo phân công.",
        "TUQ": "TUQ. (thừa ủy quyền): theo văn bản ủy quyền, có thời hạn, không được ủy "
        "quyền lại cho người khác.",
        "TL": "TL. (thừa lệnh): người đứng đầu giao cho người đứng đầu một đơn vị ký thừa lệnh.",
        "save": "Lưu ủy quyền",
        "errors": "Chưa lưu được ủy quyền:",
        "err_dates": "Hãy nhập ngày bắt đầu và ngày kết thúc.",
        "err_order": "Ngày kết thúc phải cùng ngày hoặc sau ngày bắt đầu.",
        "err_past": "Thời gian này đã qua; hãy chọn ngày kết thúc từ hôm nay trở đi.",
        "err_delegate": "Không có người dùng đang hoạt động với địa chỉ {email}.",
        "err_self": "Anh/chị không thể ủy quyền cho chính mình.",
        "err_capacity": "Hãy chọn tư cách: KT., TUQ. hoặc TL.",
    },
    "en": {
        "title": "Delegation while away",
        "intro": "While a delegation runs, new tasks for you go to your delegate, who decides "
        "for you in the capacity chosen. Tasks given to you before stay with you.",
        "mine": "Your delegations",
        "mine_none": "You have no delegation in force or to come.",
        "to_me": "Delegated to you",
        "capacity": "Capacity",
        "span": "from {a} to the end of {b}",
        "running": "in force",
        "coming": "to come",
        "end": "End now",
        "cancel": "Cancel",
        "new": "New delegation",
        "from": "From",
        "until": "Until (included)",
        "days": "Days in the office's time ({zone}).",
        "delegate_email": "Delegate (the e-mail address of a user)",
        "KT": "KT. (signing for): a deputy signs for the head, by standing assignment.",
        "TUQ": "TUQ. (by authorisation): under a written authorisation, for a limited time; "
        "it may not be passed on.",
        "TL": "TL. (by order): the head charges the head of a unit to sign by order.",
        "save": "Save the delegation",
        "errors": "The delegation was not saved:",
        "err_dates": "Enter the first and the last day.",
        "err_order": "The last day must be the first day or later.",
        "err_past": "That time is over; choose a last day from today on.",
        "err_delegate": "No active user has the address {email}.",
        "err_self": "You cannot delegate to yourself.",
        "err_capacity": "Choose a capacity: KT., TUQ. or TL.",
    },
}
