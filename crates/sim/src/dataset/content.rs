//! What people write: names, chat lines, posts and comments in Vietnamese and Traditional
//! Chinese with emoji, the languages of the merchants the product serves. Clients must carry
//! this text through unharmed (multi-byte characters, emoji with variation selectors).

use serde::{Deserialize, Serialize};

use crate::mix::Mix;

/// The main language of an account's customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    /// Vietnamese.
    Vi,
    /// Traditional Chinese (Taiwan).
    ZhTw,
}

impl Locale {
    fn other(self) -> Locale {
        match self {
            Locale::Vi => Locale::ZhTw,
            Locale::ZhTw => Locale::Vi,
        }
    }

    /// The account's locale most of the time, the other one now and then.
    pub(crate) fn mostly(self, mix: Mix) -> Locale {
        if mix.chance(0.15) { self.other() } else { self }
    }
}

/// (display, ascii) pairs: the ascii half builds usernames.
const VI_FAMILY: &[(&str, &str)] = &[
    ("Nguyễn", "nguyen"),
    ("Trần", "tran"),
    ("Lê", "le"),
    ("Phạm", "pham"),
    ("Hoàng", "hoang"),
    ("Huỳnh", "huynh"),
    ("Phan", "phan"),
    ("Vũ", "vu"),
    ("Võ", "vo"),
    ("Đặng", "dang"),
    ("Bùi", "bui"),
    ("Đỗ", "do"),
];
const VI_MIDDLE: &[&str] = &["Thị", "Văn", "Minh", "Ngọc", "Thu", "Gia", "Thanh", "Hoài"];
const VI_GIVEN: &[(&str, &str)] = &[
    ("Lan", "lan"),
    ("Hà", "ha"),
    ("Nam", "nam"),
    ("Linh", "linh"),
    ("Tuấn", "tuan"),
    ("Trang", "trang"),
    ("Hương", "huong"),
    ("Dũng", "dung"),
    ("Mai", "mai"),
    ("Khoa", "khoa"),
    ("Vy", "vy"),
    ("Phúc", "phuc"),
    ("Thảo", "thao"),
    ("Quân", "quan"),
];
const ZH_FAMILY: &[(&str, &str)] = &[
    ("陳", "chen"),
    ("林", "lin"),
    ("黃", "huang"),
    ("張", "zhang"),
    ("李", "li"),
    ("王", "wang"),
    ("吳", "wu"),
    ("劉", "liu"),
    ("蔡", "tsai"),
    ("楊", "yang"),
];
const ZH_GIVEN: &[(&str, &str)] = &[
    ("怡君", "yijun"),
    ("志明", "zhiming"),
    ("雅婷", "yating"),
    ("家豪", "jiahao"),
    ("淑芬", "shufen"),
    ("俊傑", "junjie"),
    ("欣怡", "xinyi"),
    ("冠宇", "guanyu"),
    ("佳蓉", "jiarong"),
    ("宗翰", "zonghan"),
];
const NAME_EMOJI: &[&str] = &["🌸", "✨", "🍀", "🐰"];

/// A person's display name and a username derived from it.
pub(crate) fn person(mix: Mix, locale: Locale) -> (String, String) {
    let digits = mix.with(9).below(100);
    let (display, handle) = match locale {
        Locale::Vi => {
            let (family, family_ascii) = mix.with(1).pick(VI_FAMILY);
            let (given, given_ascii) = mix.with(2).pick(VI_GIVEN);
            let display = if mix.with(3).chance(0.5) {
                format!("{family} {} {given}", mix.with(4).pick(VI_MIDDLE))
            } else {
                format!("{given} {family}")
            };
            (display, format!("{given_ascii}.{family_ascii}{digits:02}"))
        }
        Locale::ZhTw => {
            let (family, family_ascii) = mix.with(1).pick(ZH_FAMILY);
            let (given, given_ascii) = mix.with(2).pick(ZH_GIVEN);
            (
                format!("{family}{given}"),
                format!("{family_ascii}_{given_ascii}{digits:02}"),
            )
        }
    };
    if mix.with(5).chance(0.06) {
        (
            format!("{display} {}", mix.with(6).pick(NAME_EMOJI)),
            handle,
        )
    } else {
        (display, handle)
    }
}

const VI_CUSTOMER: &[&str] = &[
    "Shop ơi, còn size M không ạ?",
    "Giá bao nhiêu vậy shop?",
    "Ship COD được không shop?",
    "Khi nào giao hàng vậy ạ?",
    "Mình muốn đổi sang màu đen được không?",
    "Cho mình xin bảng size với",
    "Đơn của mình tới đâu rồi shop?",
    "Áo này có phải chất cotton không ạ?",
    "Mình ở Đà Nẵng, phí ship bao nhiêu?",
    "Cảm ơn shop nhiều nha ❤️",
    "Hàng đẹp lắm, lần sau mua tiếp 😍",
    "Shop tư vấn giúp em với",
    "Còn mã giảm giá không shop?",
    "Em chuyển khoản rồi nhé",
    "Sao mãi chưa thấy ai trả lời vậy 😢",
];
const ZH_CUSTOMER: &[&str] = &[
    "請問這件還有M號嗎？",
    "這個多少錢？",
    "可以貨到付款嗎？",
    "什麼時候可以出貨？",
    "我想換黑色可以嗎？",
    "請問有尺寸表嗎？",
    "我的訂單到哪裡了？",
    "謝謝老闆 🙏",
    "收到了，很喜歡！😍",
    "週末有優惠嗎？",
    "可以寄到7-11嗎？",
    "已經匯款了，麻煩確認一下",
];
const EMOJI_ONLY: &[&str] = &["👍", "❤️❤️❤️", "😂😂", "🙏", "🔥🔥", "😍", "👌✨", "🥰"];
const EN_CUSTOMER: &[&str] = &[
    "Hi shop, is this still available?",
    "ok thanks!",
    "Can you ship to Singapore?",
];
const VI_BUSINESS: &[&str] = &[
    "Dạ chào bạn, shop còn hàng ạ 😊",
    "Dạ giá sản phẩm là 299.000đ ạ",
    "Shop có hỗ trợ COD toàn quốc nha bạn",
    "Dạ đơn của bạn đã được giao cho đơn vị vận chuyển ạ",
    "Bạn cho shop xin số điện thoại và địa chỉ nhé",
    "Dạ bạn mặc size M là vừa ạ",
    "Cảm ơn bạn đã ủng hộ shop ❤️",
    "Dạ shop đã nhận được chuyển khoản, cảm ơn bạn!",
    "Mã FREESHIP còn hạn đến cuối tháng nha",
];
const ZH_BUSINESS: &[&str] = &[
    "您好，目前有現貨喔！😊",
    "這件售價 NT$890",
    "可以貨到付款，運費60元",
    "今天下單，明天出貨",
    "麻煩提供收件人姓名、電話和地址",
    "建議您選M號",
    "謝謝您的支持 ❤️",
    "已收到款項，謝謝！",
    "週末全館85折喔",
];
const VI_POST: &[&str] = &[
    "🔥 Hàng mới về! Áo thun cotton 100%, đủ size S–XL. Inbox shop để được tư vấn nhé!",
    "Flash sale cuối tuần: giảm 30% toàn bộ váy 💃",
    "Feedback từ khách yêu 🥰 Cảm ơn mọi người đã tin tưởng shop!",
    "Shop nghỉ Tết từ 28 đến mùng 5, đơn hàng sẽ được giao sau Tết ạ 🧧",
    "Mẫu túi xách mới, chỉ còn 20 chiếc!",
    "Livestream 20h tối nay, săn deal 9k nha cả nhà ✨",
];
const ZH_POST: &[&str] = &[
    "🔥 新品上架！100%純棉T恤，S–XL都有，歡迎私訊詢問！",
    "週末限時特賣：洋裝全面7折 💃",
    "感謝客人的好評 🥰",
    "春節公休公告：除夕至初五暫停出貨 🧧",
    "新款包包到貨，限量20個！",
    "今晚8點直播，準時上線搶優惠 ✨",
];
const VI_COMMENT: &[&str] = &[
    "Giá bao nhiêu ạ?",
    "Còn màu đen không shop?",
    "Inbox em với ạ",
    "Đẹp quá 😍",
    "Ship Hà Nội bao lâu vậy shop?",
    "Chốt 1 cái size L nha",
];
const ZH_COMMENT: &[&str] = &[
    "多少錢？",
    "還有貨嗎？",
    "已私訊 🙏",
    "好漂亮 😍",
    "+1 黑色M號",
];
const VI_REPLY: &[&str] = &[
    "Shop đã inbox bạn rồi ạ ❤️",
    "Dạ còn ạ, bạn check inbox nhé",
];
const ZH_REPLY: &[&str] = &["已私訊您喔 😊", "有的，請查看私訊"];

/// A chat line written by a customer.
pub(crate) fn customer_line(mix: Mix, locale: Locale) -> &'static str {
    let roll = mix.with(1).unit();
    if roll < 0.08 {
        mix.with(2).pick(EMOJI_ONLY)
    } else if roll < 0.12 {
        mix.with(2).pick(EN_CUSTOMER)
    } else {
        match locale.mostly(mix.with(3)) {
            Locale::Vi => mix.with(2).pick(VI_CUSTOMER),
            Locale::ZhTw => mix.with(2).pick(ZH_CUSTOMER),
        }
    }
}

/// A chat line written by the merchant.
pub(crate) fn business_line(mix: Mix, locale: Locale) -> &'static str {
    match locale {
        Locale::Vi => mix.pick(VI_BUSINESS),
        Locale::ZhTw => mix.pick(ZH_BUSINESS),
    }
}

pub(crate) fn post_text(mix: Mix, locale: Locale) -> &'static str {
    match locale {
        Locale::Vi => mix.pick(VI_POST),
        Locale::ZhTw => mix.pick(ZH_POST),
    }
}

pub(crate) fn comment_text(mix: Mix, locale: Locale, by_account: bool) -> &'static str {
    match (locale, by_account) {
        (_, false) if mix.with(1).chance(0.1) => mix.pick(EMOJI_ONLY),
        (Locale::Vi, false) => mix.pick(VI_COMMENT),
        (Locale::ZhTw, false) => mix.pick(ZH_COMMENT),
        (Locale::Vi, true) => mix.pick(VI_REPLY),
        (Locale::ZhTw, true) => mix.pick(ZH_REPLY),
    }
}
