//! Realistic synthetic data for the demo: institutions in several provinces
//! (Hainan Boao Lecheng, Tianjin, Shanghai among them), ethics committees,
//! regulators, a preparation centre, a verification laboratory, a sponsor and
//! a payer; users for each role; and filings driven through every state of the
//! workflow by the same commands the web uses, with electronic signatures.
//!
//! All names and codes are fictional. Unified Social Credit Codes are built
//! with valid check characters so they pass the registry's checks.

use celltrail_core::calendar::WorkCalendar;
use celltrail_core::uscc;
use celltrail_ledger::NewEvent;
use celltrail_store::error::StoreResult;
use celltrail_store::projection::{self, ProjectDrafted, ProjectTransitioned};
use celltrail_store::service::{
    self, load_actor, ActInput, Actor, OrgInput, ProjectInput, QualificationInput, SignInput,
    UserInput, When,
};
use celltrail_store::Store;
use chrono::{Duration, NaiveDate};
use serde::Serialize;

pub const DEMO_PASSWORD: &str = "CellTrail-Demo-2026";

struct OrgSpec {
    id: &'static str,
    org_type: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    province: &'static str,
    city_zh: &'static str,
    city_en: &'static str,
    grade: Option<&'static str>,
    /// Registration authority + category (e.g. "12" public institution,
    /// "52" private non-enterprise unit, "91" company, "11" government body)
    /// and the six-digit division code.
    uscc_head: &'static str,
}

/// One row of the table below (positional for readability of the table).
#[allow(clippy::too_many_arguments)]
const fn o(
    id: &'static str,
    org_type: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    province: &'static str,
    city_zh: &'static str,
    city_en: &'static str,
    grade: Option<&'static str>,
    uscc_head: &'static str,
) -> OrgSpec {
    OrgSpec {
        id,
        org_type,
        name_zh,
        name_en,
        province,
        city_zh,
        city_en,
        grade,
        uscc_head,
    }
}

const MI: &str = "medical_institution";

const ORGS: &[OrgSpec] = &[
    o(
        "org-sh-shenjiang",
        MI,
        "申江大学附属华东医院",
        "East China Hospital, Shenjiang University",
        "31",
        "上海市",
        "Shanghai",
        Some("3A"),
        "12310000",
    ),
    o(
        "org-sh-pujiang-child",
        MI,
        "上海浦江儿童医学中心",
        "Pujiang Children's Medical Centre, Shanghai",
        "31",
        "上海市",
        "Shanghai",
        Some("3A"),
        "12310115",
    ),
    o(
        "org-tj-haihe",
        MI,
        "天津海河血液病医院",
        "Haihe Hospital of Blood Diseases, Tianjin",
        "12",
        "天津市",
        "Tianjin",
        Some("3A"),
        "12120000",
    ),
    o(
        "org-tj-binhai",
        MI,
        "天津滨海新区自贸区细胞医院",
        "Binhai Free Trade Zone Cell Therapy Hospital, Tianjin",
        "12",
        "天津市",
        "Tianjin",
        Some("3B"),
        "52120116",
    ),
    o(
        "org-hn-lecheng-cell",
        MI,
        "博鳌乐城国际细胞医学医院",
        "Boao Lecheng International Cell Medicine Hospital",
        "46",
        "琼海市博鳌乐城先行区",
        "Boao Lecheng Pilot Zone, Qionghai",
        Some("3B"),
        "52469002",
    ),
    o(
        "org-hn-lecheng-intl",
        MI,
        "海南乐城国际医院",
        "Hainan Lecheng International Hospital",
        "46",
        "琼海市博鳌乐城先行区",
        "Boao Lecheng Pilot Zone, Qionghai",
        Some("2A"),
        "52469003",
    ),
    o(
        "org-bj-yanjing",
        MI,
        "燕京大学第一医院",
        "First Hospital of Yanjing University",
        "11",
        "北京市",
        "Beijing",
        Some("3A"),
        "12110000",
    ),
    o(
        "org-bj-changcheng",
        MI,
        "北京长城肿瘤医院",
        "Great Wall Cancer Hospital, Beijing",
        "11",
        "北京市",
        "Beijing",
        Some("3A"),
        "12110105",
    ),
    o(
        "org-gd-zhujiang",
        MI,
        "珠江大学附属第三医院",
        "Third Affiliated Hospital of Zhujiang University",
        "44",
        "广州市",
        "Guangzhou",
        Some("3A"),
        "12440100",
    ),
    o(
        "org-gd-qianhai",
        MI,
        "深圳前海国际医院",
        "Qianhai International Hospital, Shenzhen",
        "44",
        "深圳市",
        "Shenzhen",
        Some("3B"),
        "52440300",
    ),
    o(
        "org-hu-xiangjiang",
        MI,
        "湘江医学院附属医院",
        "Affiliated Hospital of Xiangjiang Medical College",
        "43",
        "长沙市",
        "Changsha",
        Some("3A"),
        "12430100",
    ),
    o(
        "org-sc-jincheng",
        MI,
        "成都锦城医院",
        "Jincheng Hospital, Chengdu",
        "51",
        "成都市",
        "Chengdu",
        Some("3A"),
        "12510100",
    ),
    o(
        "org-js-taihu",
        MI,
        "苏州太湖人民医院",
        "Taihu People's Hospital, Suzhou",
        "32",
        "苏州市",
        "Suzhou",
        Some("3B"),
        "12320500",
    ),
    o(
        "org-sh-zhangjiang-prep",
        "preparation_centre",
        "上海张江细胞制备中心有限公司",
        "Zhangjiang Cell Preparation Centre Co., Ltd., Shanghai",
        "31",
        "上海市",
        "Shanghai",
        None,
        "91310115",
    ),
    o(
        "org-gx-guilin-prep",
        "preparation_centre",
        "广西桂林区域细胞制备中心",
        "Guilin Regional Cell Preparation Centre, Guangxi",
        "45",
        "桂林市",
        "Guilin",
        None,
        "12450300",
    ),
    o(
        "org-sh-shenjiang-ec",
        "ethics_committee",
        "申江大学附属华东医院医学伦理委员会",
        "Medical Ethics Committee, East China Hospital of Shenjiang University",
        "31",
        "上海市",
        "Shanghai",
        None,
        "12310001",
    ),
    o(
        "org-sh-pujiang-ec",
        "ethics_committee",
        "上海浦江儿童医学中心伦理委员会",
        "Ethics Committee, Pujiang Children's Medical Centre",
        "31",
        "上海市",
        "Shanghai",
        None,
        "12310002",
    ),
    o(
        "org-tj-haihe-ec",
        "ethics_committee",
        "天津海河血液病医院医学伦理委员会",
        "Medical Ethics Committee, Haihe Hospital of Blood Diseases",
        "12",
        "天津市",
        "Tianjin",
        None,
        "12120001",
    ),
    o(
        "org-hu-regional-ec",
        "ethics_committee",
        "湖南省细胞治疗区域伦理审查委员会",
        "Hunan Regional Ethics Committee for Cell Therapy",
        "43",
        "长沙市",
        "Changsha",
        None,
        "12430000",
    ),
    o(
        "org-nhc",
        "regulator",
        "国家卫生健康委员会（演示）",
        "National Health Commission (demo)",
        "00",
        "北京市",
        "Beijing",
        None,
        "11100000",
    ),
    o(
        "org-sh-hc",
        "regulator",
        "上海市卫生健康委员会（演示）",
        "Shanghai Municipal Health Commission (demo)",
        "31",
        "上海市",
        "Shanghai",
        None,
        "11310000",
    ),
    o(
        "org-tj-hc",
        "regulator",
        "天津市卫生健康委员会（演示）",
        "Tianjin Municipal Health Commission (demo)",
        "12",
        "天津市",
        "Tianjin",
        None,
        "11120000",
    ),
    o(
        "org-hn-lecheng-admin",
        "regulator",
        "海南博鳌乐城国际医疗旅游先行区管理局（演示）",
        "Boao Lecheng Pilot Zone Administration, Hainan (demo)",
        "46",
        "琼海市",
        "Qionghai",
        None,
        "11469002",
    ),
    o(
        "org-bj-hc",
        "regulator",
        "北京市卫生健康委员会（演示）",
        "Beijing Municipal Health Commission (demo)",
        "11",
        "北京市",
        "Beijing",
        None,
        "11110000",
    ),
    o(
        "org-gd-hc",
        "regulator",
        "广东省卫生健康委员会（演示）",
        "Health Commission of Guangdong Province (demo)",
        "44",
        "广州市",
        "Guangzhou",
        None,
        "11440000",
    ),
    o(
        "org-cn-verify-lab",
        "verification_lab",
        "中检细胞质量第三方检测中心",
        "Sinotest Third-Party Cell Quality Laboratory",
        "11",
        "北京市",
        "Beijing",
        None,
        "91110108",
    ),
    o(
        "org-sponsor-huashen",
        "sponsor",
        "华申生物科技有限公司",
        "Huashen Biotech Co., Ltd.",
        "31",
        "上海市",
        "Shanghai",
        None,
        "91310115",
    ),
    o(
        "org-payer-lecheng",
        "payer",
        "乐城普惠特药保险（演示）",
        "Lecheng Inclusive Specialty Drug Insurance (demo)",
        "46",
        "海口市",
        "Haikou",
        None,
        "91460100",
    ),
];

/// Deterministic digits from a string (FNV-1a), for fictional codes.
fn digits(seed: &str, n: usize) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&format!("{:019}", h));
        h = h.wrapping_mul(0x100000001b3).wrapping_add(7);
    }
    s.truncate(n);
    s
}

/// A fictional Unified Social Credit Code with valid check characters
/// (GB 11714 for the organisation code, GB 32100 for the whole).
pub fn fictional_uscc(head: &str, seed: &str) -> String {
    let body8 = digits(seed, 8);
    let org_check = uscc::org_code_check_char(&body8).unwrap_or('0');
    let first17 = format!("{head}{body8}{org_check}");
    let check = uscc::check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

struct UserSpec {
    username: &'static str,
    name: &'static str,
    org: &'static str,
    roles: &'static [&'static str],
}

const fn u(
    username: &'static str,
    name: &'static str,
    org: &'static str,
    roles: &'static [&'static str],
) -> UserSpec {
    UserSpec {
        username,
        name,
        org,
        roles,
    }
}

const USERS: &[UserSpec] = &[
    u(
        "sjh.office",
        "李静 Li Jing",
        "org-sh-shenjiang",
        &["research_office"],
    ),
    u(
        "sjh.pi",
        "周明 Zhou Ming",
        "org-sh-shenjiang",
        &["investigator"],
    ),
    u(
        "sjh.admin",
        "何芳 He Fang",
        "org-sh-shenjiang",
        &["org_admin"],
    ),
    u(
        "sjh.nurse",
        "王蕙 Wang Hui",
        "org-sh-shenjiang",
        &["clinical_nurse"],
    ),
    u(
        "sjh.nurse2",
        "陈燕 Chen Yan",
        "org-sh-shenjiang",
        &["clinical_nurse"],
    ),
    u(
        "pjc.office",
        "吴倩 Wu Qian",
        "org-sh-pujiang-child",
        &["research_office"],
    ),
    u(
        "haihe.office",
        "赵磊 Zhao Lei",
        "org-tj-haihe",
        &["research_office"],
    ),
    u(
        "binhai.office",
        "孙悦 Sun Yue",
        "org-tj-binhai",
        &["research_office"],
    ),
    u(
        "lecheng.office",
        "林海 Lin Hai",
        "org-hn-lecheng-cell",
        &["research_office"],
    ),
    u(
        "lcintl.office",
        "符晓 Fu Xiao",
        "org-hn-lecheng-intl",
        &["research_office"],
    ),
    u(
        "yanjing.office",
        "高远 Gao Yuan",
        "org-bj-yanjing",
        &["research_office"],
    ),
    u(
        "changcheng.office",
        "马丽 Ma Li",
        "org-bj-changcheng",
        &["research_office"],
    ),
    u(
        "zhujiang.office",
        "陈嘉 Chen Jia",
        "org-gd-zhujiang",
        &["research_office"],
    ),
    u(
        "qianhai.office",
        "黄蕾 Huang Lei",
        "org-gd-qianhai",
        &["research_office"],
    ),
    u(
        "xiangjiang.office",
        "刘湘 Liu Xiang",
        "org-hu-xiangjiang",
        &["research_office"],
    ),
    u(
        "jincheng.office",
        "杨蓉 Yang Rong",
        "org-sc-jincheng",
        &["research_office"],
    ),
    u(
        "taihu.office",
        "钱程 Qian Cheng",
        "org-js-taihu",
        &["research_office"],
    ),
    u(
        "zj.qa",
        "郑洁 Zheng Jie",
        "org-sh-zhangjiang-prep",
        &["quality_assurance"],
    ),
    u(
        "zj.operator",
        "顾晨 Gu Chen",
        "org-sh-zhangjiang-prep",
        &["process_operator"],
    ),
    u(
        "zj.qp",
        "沈思远 Shen Siyuan",
        "org-sh-zhangjiang-prep",
        &["qualified_person"],
    ),
    u(
        "shec.secretary",
        "许宁 Xu Ning",
        "org-sh-shenjiang-ec",
        &["ethics_secretary"],
    ),
    u(
        "shec.chair",
        "沈涛 Shen Tao",
        "org-sh-shenjiang-ec",
        &["ethics_member"],
    ),
    u(
        "shec.member",
        "钱敏 Qian Min",
        "org-sh-shenjiang-ec",
        &["ethics_member"],
    ),
    u(
        "pjec.secretary",
        "蒋文 Jiang Wen",
        "org-sh-pujiang-ec",
        &["ethics_secretary"],
    ),
    u(
        "pjec.chair",
        "韩雪 Han Xue",
        "org-sh-pujiang-ec",
        &["ethics_member"],
    ),
    u(
        "hrec.secretary",
        "彭湘 Peng Xiang",
        "org-hu-regional-ec",
        &["ethics_secretary"],
    ),
    u(
        "hrec.chair",
        "谭青 Tan Qing",
        "org-hu-regional-ec",
        &["ethics_member"],
    ),
    u(
        "thec.secretary",
        "曹宁 Cao Ning",
        "org-tj-haihe-ec",
        &["ethics_secretary"],
    ),
    u(
        "thec.chair",
        "冯立 Feng Li",
        "org-tj-haihe-ec",
        &["ethics_member"],
    ),
    u(
        "nhc.officer",
        "陈立 Chen Li",
        "org-nhc",
        &["regulator_officer"],
    ),
    u("nhc.inspector", "王检 Wang Jian", "org-nhc", &["inspector"]),
    u(
        "sh.reviewer",
        "蒋文 Jiang Wen",
        "org-sh-hc",
        &["regulator_reviewer"],
    ),
    u(
        "sh.officer",
        "沈卫 Shen Wei",
        "org-sh-hc",
        &["regulator_officer"],
    ),
    u(
        "tj.officer",
        "曹津 Cao Jin",
        "org-tj-hc",
        &["regulator_officer"],
    ),
    u(
        "hn.officer",
        "王琼 Wang Qiong",
        "org-hn-lecheng-admin",
        &["regulator_officer"],
    ),
    u(
        "bj.officer",
        "韩京 Han Jing",
        "org-bj-hc",
        &["regulator_officer"],
    ),
    u(
        "gd.officer",
        "梁粤 Liang Yue",
        "org-gd-hc",
        &["regulator_officer"],
    ),
    u(
        "lab.analyst",
        "彭检 Peng Jian",
        "org-cn-verify-lab",
        &["lab_analyst"],
    ),
    u(
        "huashen.manager",
        "罗申 Luo Shen",
        "org-sponsor-huashen",
        &["sponsor_manager"],
    ),
    u(
        "payer.analyst",
        "符保 Fu Bao",
        "org-payer-lecheng",
        &["payer_analyst"],
    ),
];

/// (title_zh, title_en, category, kind)
const TITLES: &[(&str, &str, &str, &str)] = &[
    (
        "靶向CD19嵌合抗原受体T细胞治疗复发/难治性B细胞急性淋巴细胞白血病的临床研究",
        "Anti-CD19 CAR-T cells for relapsed or refractory B-cell acute lymphoblastic leukaemia",
        "car_t",
        "clinical_research",
    ),
    (
        "BCMA CAR-T细胞治疗复发难治多发性骨髓瘤的临床研究",
        "BCMA CAR-T cells for relapsed or refractory multiple myeloma",
        "car_t",
        "clinical_research",
    ),
    (
        "人脐带间充质干细胞治疗膝骨关节炎的临床研究",
        "Human umbilical cord mesenchymal stromal cells for knee osteoarthritis",
        "msc",
        "clinical_research",
    ),
    (
        "间充质干细胞治疗激素耐药急性移植物抗宿主病",
        "Mesenchymal stromal cells for steroid-refractory acute graft-versus-host disease",
        "msc",
        "technology",
    ),
    (
        "iPSC来源多巴胺能神经前体细胞移植治疗帕金森病",
        "iPSC-derived dopaminergic progenitor transplantation for Parkinson's disease",
        "ipsc_derived",
        "clinical_research",
    ),
    (
        "自体肿瘤浸润淋巴细胞治疗晚期宫颈癌",
        "Autologous tumour-infiltrating lymphocytes for advanced cervical cancer",
        "til",
        "clinical_research",
    ),
    (
        "CD7 CAR-T细胞治疗复发难治T细胞淋巴瘤",
        "CD7 CAR-T cells for relapsed or refractory T-cell lymphoma",
        "car_t",
        "clinical_research",
    ),
    (
        "AAV介导凝血因子IX基因治疗血友病B",
        "AAV-mediated factor IX gene therapy for haemophilia B",
        "gene_therapy",
        "clinical_research",
    ),
    (
        "溶瘤单纯疱疹病毒瘤内注射治疗晚期黑色素瘤",
        "Intratumoural oncolytic herpes simplex virus for advanced melanoma",
        "oncolytic_virus",
        "clinical_research",
    ),
    (
        "干细胞来源胰岛细胞移植治疗1型糖尿病",
        "Stem-cell-derived islet transplantation for type 1 diabetes",
        "esc_derived",
        "clinical_research",
    ),
    (
        "NK细胞清除急性髓系白血病微小残留病",
        "NK cells to clear measurable residual disease in acute myeloid leukaemia",
        "nk",
        "clinical_research",
    ),
    (
        "TCR-T细胞治疗HPV16相关实体瘤",
        "TCR-T cells for HPV16-associated solid tumours",
        "tcr_t",
        "clinical_research",
    ),
    (
        "组织工程皮肤修复大面积深度烧伤",
        "Tissue-engineered skin for extensive deep burns",
        "tissue_engineered",
        "technology",
    ),
    (
        "CD19 CAR-T细胞治疗难治性系统性红斑狼疮",
        "CD19 CAR-T cells for refractory systemic lupus erythematosus",
        "car_t",
        "clinical_research",
    ),
    (
        "间充质干细胞治疗慢加急性肝衰竭",
        "Mesenchymal stromal cells for acute-on-chronic liver failure",
        "msc",
        "clinical_research",
    ),
    (
        "自体造血干细胞移植联合基因修饰治疗β地中海贫血",
        "Gene-modified autologous haematopoietic stem cells for beta-thalassaemia",
        "hsc",
        "clinical_research",
    ),
];

const PIS: &[&str] = &[
    "周明", "吴倩", "赵磊", "林海", "高远", "陈嘉", "刘湘", "杨蓉", "钱程", "马丽", "黄蕾", "孙悦",
];

/// The state each demo project ends in; every state appears several times.
const TARGETS: &[&str] = &[
    "filed",
    "submitted",
    "draft",
    "accepted",
    "returned",
    "filed",
    "suspended",
    "completed",
    "terminated",
    "filed",
    "submitted",
    "accepted",
];

#[derive(Serialize)]
pub struct DemoLogin {
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub organisation: String,
    pub roles: Vec<String>,
}

#[derive(Serialize)]
pub struct DemoReport {
    pub loaded_now: bool,
    pub organisations: usize,
    pub projects: usize,
    pub projects_by_state: Vec<(String, u64)>,
    pub events: u64,
    pub logins: Vec<DemoLogin>,
}

impl DemoReport {
    pub fn human(&self) -> String {
        let mut s = String::new();
        s.push_str(if self.loaded_now {
            "Demo data loaded.\n"
        } else {
            "Demo data already present.\n"
        });
        s.push_str(&format!(
            "{} organisations, {} projects, {} ledger events\n",
            self.organisations, self.projects, self.events
        ));
        let states: Vec<String> = self
            .projects_by_state
            .iter()
            .map(|(st, n)| format!("{st} {n}"))
            .collect();
        s.push_str(&format!(
            "projects by state: {}\n\nDemo logins (password for all: {DEMO_PASSWORD}):\n",
            states.join(", ")
        ));
        for l in &self.logins {
            s.push_str(&format!(
                "  {:<18} {:<22} {}\n",
                l.username,
                l.roles.join(","),
                l.organisation
            ));
        }
        s.push_str("\nTry: sjh.office files a project; sh.officer accepts and files it with an electronic signature; anyone checks it at /public.\n");
        s
    }
}

pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

pub(crate) async fn actor(store: &dyn Store, username: &str) -> StoreResult<Actor> {
    let user = store.user_by_username(username).await?.ok_or_else(|| {
        celltrail_store::StoreError::internal("demo_user_missing", username.to_string())
    })?;
    load_actor(store, &user.id).await
}

fn sign(a: &Actor, meaning: &str, record_hash: String) -> Option<SignInput> {
    Some(SignInput {
        username: a.username.clone(),
        password: DEMO_PASSWORD.into(),
        meaning: meaning.into(),
        record_hash,
    })
}

async fn step(
    store: &dyn Store,
    cal: &WorkCalendar,
    a: &Actor,
    project_id: &str,
    action: &str,
    reason: Option<&str>,
    when: &When,
) -> StoreResult<()> {
    let meaning = match action {
        "submit" => Some("authored"),
        "accept" => Some("reviewed"),
        "file" => Some("approved"),
        "terminate" => Some("responsible"),
        _ => None,
    };
    let signature = match meaning {
        Some(m) => {
            let head = store
                .stream_head(&projection::project_stream(project_id))
                .await?
                .map(|(_, h)| h)
                .unwrap_or_default();
            sign(a, m, head)
        }
        None => None,
    };
    let input = ActInput {
        action: action.into(),
        reason: reason.map(str::to_string),
        signature,
    };
    service::act_on_project(store, a, project_id, &input, cal, when).await?;
    Ok(())
}

fn regulator_for(province: &str) -> &'static str {
    match province {
        "31" => "sh.officer",
        "12" => "tj.officer",
        "46" => "hn.officer",
        "11" => "bj.officer",
        "44" => "gd.officer",
        _ => "nhc.officer",
    }
}

/// Loads the demo data unless it is already there; `scale` adds bulk data.
pub async fn load(store: &dyn Store, cal: &WorkCalendar, scale: u32) -> StoreResult<DemoReport> {
    let loaded_now = store.organisation(service::SYSTEM_ORG).await?.is_none();
    if loaded_now {
        load_base(store, cal).await?;
    }
    if scale > 0 {
        load_bulk(store, scale).await?;
    }
    let mut logins = vec![DemoLogin {
        username: "admin".into(),
        password: DEMO_PASSWORD.into(),
        display_name: "Platform Administrator".into(),
        organisation: "CellTrail".into(),
        roles: vec!["platform_admin".into()],
    }];
    for spec in USERS {
        let org = ORGS
            .iter()
            .find(|o| o.id == spec.org)
            .map(|o| o.name_zh)
            .unwrap_or(spec.org);
        logins.push(DemoLogin {
            username: spec.username.into(),
            password: DEMO_PASSWORD.into(),
            display_name: spec.name.into(),
            organisation: org.into(),
            roles: spec.roles.iter().map(|r| r.to_string()).collect(),
        });
    }
    let by_state = store.project_counts().await?;
    Ok(DemoReport {
        loaded_now,
        organisations: store
            .organisations(&celltrail_store::OrgFilter {
                limit: Some(u32::MAX),
                ..Default::default()
            })
            .await?
            .len()
            .max(ORGS.len()),
        projects: by_state.iter().map(|(_, n)| *n as usize).sum(),
        projects_by_state: by_state,
        events: store.event_count().await?,
        logins,
    })
}

async fn load_base(store: &dyn Store, cal: &WorkCalendar) -> StoreResult<()> {
    let rules = &celltrail_core::rules::Engine::compile(&celltrail_core::rules::builtin_sources())
        .map_err(|problems| {
            celltrail_store::StoreError::internal("rules_invalid", format!("{problems:?}"))
        })?;
    let t0 = When::at(day(2026, 1, 5), 1, 0);
    service::bootstrap(store, "admin", DEMO_PASSWORD, &t0).await?;
    let system = Actor::system();
    for spec in ORGS {
        let input = OrgInput {
            id: Some(spec.id.into()),
            org_type: spec.org_type.into(),
            name_zh: spec.name_zh.into(),
            name_en: spec.name_en.into(),
            uscc: Some(fictional_uscc(spec.uscc_head, spec.id)),
            province_code: spec.province.into(),
            city_zh: spec.city_zh.into(),
            city_en: spec.city_en.into(),
            grade: spec.grade.map(str::to_string),
            address_zh: format!("{}（演示地址）", spec.city_zh),
            address_en: format!("{} (demo address)", spec.city_en),
        };
        service::register_org(
            store,
            &system,
            &input,
            "demo data: organisation registered",
            &t0,
        )
        .await?;
    }
    // Qualifications: practice licence and GCP site for every hospital; a
    // stem-cell filing for some; an expired licence for two, which the
    // registry flags.
    for (i, spec) in ORGS.iter().enumerate() {
        let quals: Vec<QualificationInput> = match spec.org_type {
            "medical_institution" => {
                let mut q = vec![
                    qual(
                        "practice_licence",
                        &format!("PDY{}{}", digits(spec.id, 8), spec.province),
                        "卫生健康委员会",
                        "Health Commission",
                        "2022-03-01",
                        Some(if i % 6 == 5 {
                            "2025-12-31"
                        } else {
                            "2027-02-28"
                        }),
                    ),
                    qual(
                        "gcp_site",
                        &format!("药临机构备字{}", 2019 + (i % 5)),
                        "国家药品监督管理局",
                        "National Medical Products Administration",
                        "2020-06-15",
                        None,
                    ),
                ];
                if i % 2 == 0 {
                    q.push(qual(
                        "stem_cell_filing",
                        &format!("干细胞机构备案-{}", digits(spec.name_en, 4)),
                        "国家卫生健康委员会 国家药品监督管理局",
                        "NHC and NMPA",
                        "2021-09-01",
                        Some("2026-08-31")
                            .filter(|_| i % 4 == 2)
                            .or(Some("2029-08-31")),
                    ));
                }
                q
            }
            "preparation_centre" => vec![
                qual(
                    "drug_manufacturing_licence",
                    &format!("沪{}", digits(spec.id, 8)),
                    "药品监督管理局",
                    "Medical Products Administration",
                    "2023-01-10",
                    Some("2028-01-09"),
                ),
                qual(
                    "biosafety_lab",
                    &format!("BSL2-{}", digits(spec.id, 6)),
                    "卫生健康委员会",
                    "Health Commission",
                    "2022-05-01",
                    None,
                ),
            ],
            "verification_lab" => vec![qual(
                "cnas_accreditation",
                "CNAS L12345",
                "中国合格评定国家认可委员会",
                "China National Accreditation Service",
                "2021-04-01",
                Some("2027-03-31"),
            )],
            "ethics_committee" => vec![qual(
                "ethics_committee_filing",
                &format!("伦备{}", digits(spec.id, 6)),
                "卫生健康委员会",
                "Health Commission",
                "2023-07-01",
                None,
            )],
            _ => Vec::new(),
        };
        for q in quals {
            service::record_qualification(
                store,
                &system,
                spec.id,
                &q,
                "demo data: qualification recorded",
                &t0,
            )
            .await?;
        }
    }
    for spec in USERS {
        let input = UserInput {
            org_id: spec.org.into(),
            username: spec.username.into(),
            display_name: spec.name.into(),
            email: format!("{}@demo.celltrail.invalid", spec.username),
            roles: spec.roles.iter().map(|r| r.to_string()).collect(),
            password: DEMO_PASSWORD.into(),
        };
        service::create_user(store, &system, &input, "demo data: account created", &t0).await?;
    }
    // Filings: three per hospital, spread over 2026, each driven to its
    // target state through the real workflow.
    let hospitals: Vec<&OrgSpec> = ORGS.iter().filter(|o| o.org_type == MI).collect();
    let mut n = 0usize;
    for (hi, h) in hospitals.iter().enumerate() {
        let office_name = USERS
            .iter()
            .find(|u| u.org == h.id && u.roles.contains(&"research_office"))
            .map(|u| u.username)
            .unwrap_or("sjh.office");
        let office = actor(store, office_name).await?;
        let regulator = actor(store, regulator_for(h.province)).await?;
        for k in 0..3 {
            let (tz, te, cat, kind) = TITLES[(hi * 3 + k) % TITLES.len()];
            let target = TARGETS[n % TARGETS.len()];
            n += 1;
            // Recent filings still under review; older ones finished.
            let recent = matches!(target, "submitted" | "accepted" | "draft");
            let start = if recent {
                day(2026, 10, 12) + Duration::days((n % 20) as i64)
            } else {
                day(2026, 1, 12) + Duration::days((n * 9 % 200) as i64)
            };
            let mut d = start;
            let mut next = |days: i64| {
                d += Duration::days(days);
                When::at(d, 2 + (n % 6) as u32, (n * 7 % 60) as u32)
            };
            let input = ProjectInput {
                kind: kind.into(),
                title_zh: tz.into(),
                title_en: te.into(),
                summary_zh: format!("{}。单中心/多中心研究，演示数据。", tz),
                summary_en: format!("{te}. Synthetic demo record."),
                category: cat.into(),
                pi_name: PIS[(hi + k) % PIS.len()].into(),
            };
            let p = service::draft_project(
                store,
                &office,
                &input,
                "demo data: draft prepared by the research office",
                &next(0),
            )
            .await?;
            // The research office classifies the therapy while preparing
            // the filing; the record keeps what the rules said that day.
            if let Some(profile) = demo_profile(cat) {
                let input = service::ClassifyInput {
                    profile,
                    region: None,
                    reason: "demo data: classified while preparing the filing".into(),
                };
                service::classify_project(store, &office, rules, &p.id, &input, &next(1)).await?;
            }
            if target == "draft" {
                continue;
            }
            step(store, cal, &office, &p.id, "submit", None, &next(2)).await?;
            if target == "submitted" {
                continue;
            }
            if target == "returned" {
                step(store, cal, &regulator, &p.id, "return", Some("材料不全：缺少制备工艺与质量标准、伦理审查批件。Missing the manufacturing and quality specification and the ethics approval."), &next(4)).await?;
                continue;
            }
            step(store, cal, &regulator, &p.id, "accept", None, &next(3)).await?;
            if target == "accepted" {
                continue;
            }
            step(store, cal, &regulator, &p.id, "file", None, &next(21)).await?;
            match target {
                "suspended" => step(store, cal, &regulator, &p.id, "suspend", Some("随访中发现严重不良事件，暂停入组待评估。Enrolment paused after a serious adverse event pending assessment."), &next(60)).await?,
                "terminated" => {
                    step(store, cal, &regulator, &p.id, "suspend", Some("飞行检查发现制备记录不完整。Unannounced inspection found incomplete preparation records."), &next(40)).await?;
                    step(store, cal, &regulator, &p.id, "terminate", Some("整改未通过复查，终止该项目。Corrective actions failed re-inspection; the project is terminated."), &next(30)).await?;
                }
                "completed" => step(store, cal, &office, &p.id, "complete", Some("完成全部受试者入组与主要终点随访。All subjects enrolled and primary end-point follow-up complete."), &next(150)).await?,
                _ => {}
            }
        }
    }
    crate::demo_ethics::load(store, rules).await?;
    crate::demo_trace::load(store).await?;
    crate::demo_safety::load(store).await?;
    Ok(())
}

/// A realistic therapy profile for a demo project's category.
pub(crate) fn demo_profile(category: &str) -> Option<serde_json::Value> {
    let (origin, material, modification, regenerate) = match category {
        "car_t" | "tcr_t" => ("autologous", "immune_cells", "integrating_vector", false),
        "til" | "nk" => ("autologous", "immune_cells", "none", false),
        "msc" => ("allogeneic", "msc", "none", true),
        "ipsc_derived" => ("allogeneic", "ipsc_derived", "none", true),
        "esc_derived" => ("allogeneic", "esc_derived", "none", true),
        "hsc" => ("autologous", "hsc", "gene_editing", false),
        "gene_therapy" => ("none", "viral_vector", "non_integrating_vector", false),
        "oncolytic_virus" => ("none", "oncolytic_virus", "non_integrating_vector", false),
        "tissue_engineered" => ("autologous", "tissue", "none", true),
        _ => return None,
    };
    Some(serde_json::json!({
        "cell_origin": origin, "material": material, "manipulation": "substantial",
        "homologous_use": false, "genetic_modification": modification,
        "in_vivo": origin == "none", "combined_with_device": false,
        "combined_with_other_article": false, "systemic_effect": !regenerate,
        "same_surgical_procedure": false, "regenerate_repair_replace_tissue": regenerate,
        "serious_condition": true, "life_threatening_no_alternative": false,
        "first_in_human": false, "paediatric": false, "purpose": "research"
    }))
}

fn qual(
    kind: &str,
    number: &str,
    issuer_zh: &str,
    issuer_en: &str,
    from: &str,
    to: Option<&str>,
) -> QualificationInput {
    QualificationInput {
        kind: kind.into(),
        number: number.into(),
        issuer_zh: issuer_zh.into(),
        issuer_en: issuer_en.into(),
        valid_from: from.into(),
        valid_to: to.map(str::to_string),
    }
}

/// Three cities in each of the twelve load-test provinces (same order as
/// `PROVINCES` in `load_bulk`).
const BULK_CITIES: [[(&str, &str); 3]; 12] = [
    [
        ("北京", "Beijing"),
        ("朝阳", "Chaoyang"),
        ("海淀", "Haidian"),
    ],
    [("天津", "Tianjin"), ("滨海", "Binhai"), ("武清", "Wuqing")],
    [
        ("上海", "Shanghai"),
        ("浦东", "Pudong"),
        ("闵行", "Minhang"),
    ],
    [("南京", "Nanjing"), ("苏州", "Suzhou"), ("无锡", "Wuxi")],
    [
        ("杭州", "Hangzhou"),
        ("宁波", "Ningbo"),
        ("温州", "Wenzhou"),
    ],
    [("济南", "Jinan"), ("青岛", "Qingdao"), ("烟台", "Yantai")],
    [
        ("武汉", "Wuhan"),
        ("宜昌", "Yichang"),
        ("襄阳", "Xiangyang"),
    ],
    [
        ("长沙", "Changsha"),
        ("株洲", "Zhuzhou"),
        ("岳阳", "Yueyang"),
    ],
    [
        ("广州", "Guangzhou"),
        ("深圳", "Shenzhen"),
        ("佛山", "Foshan"),
    ],
    [("海口", "Haikou"), ("三亚", "Sanya"), ("琼海", "Qionghai")],
    [
        ("重庆", "Chongqing"),
        ("万州", "Wanzhou"),
        ("涪陵", "Fuling"),
    ],
    [("成都", "Chengdu"), ("绵阳", "Mianyang"), ("宜宾", "Yibin")],
];

/// Name words of the fictional load-test hospitals.
const BULK_WORDS: [(&str, &str); 40] = [
    ("仁和", "Renhe"),
    ("博爱", "Bo'ai"),
    ("康宁", "Kangning"),
    ("同仁", "Tongren"),
    ("华康", "Huakang"),
    ("瑞安", "Rui'an"),
    ("长庚", "Changgeng"),
    ("和平", "Heping"),
    ("安康", "Ankang"),
    ("济世", "Jishi"),
    ("普仁", "Puren"),
    ("惠民", "Huimin"),
    ("福寿", "Fushou"),
    ("德济", "Deji"),
    ("明德", "Mingde"),
    ("广慈", "Guangci"),
    ("博仁", "Boren"),
    ("仁爱", "Ren'ai"),
    ("爱康", "Aikang"),
    ("泰和", "Taihe"),
    ("嘉会", "Jiahui"),
    ("和睦", "Hemu"),
    ("宏康", "Hongkang"),
    ("永康", "Yongkang"),
    ("恒康", "Hengkang"),
    ("益民", "Yimin"),
    ("惠康", "Huikang"),
    ("天佑", "Tianyou"),
    ("启明", "Qiming"),
    ("南山", "Nanshan"),
    ("东方", "Dongfang"),
    ("中和", "Zhonghe"),
    ("崇仁", "Chongren"),
    ("怡康", "Yikang"),
    ("瑞慈", "Ruici"),
    ("长安", "Chang'an"),
    ("新华", "Xinhua"),
    ("松鹤", "Songhe"),
    ("春晖", "Chunhui"),
    ("仁泽", "Renze"),
];

const BULK_KINDS: [(&str, &str); 8] = [
    ("医院", "Hospital"),
    ("肿瘤医院", "Cancer Hospital"),
    ("血液病医院", "Hospital of Blood Diseases"),
    ("儿童医院", "Children's Hospital"),
    ("骨科医院", "Orthopaedic Hospital"),
    ("妇产医院", "Women's Hospital"),
    ("人民医院", "People's Hospital"),
    ("中医医院", "Hospital of Traditional Chinese Medicine"),
];

/// The i-th load-test hospital's names: city, name word and kind vary so
/// that 11,520 institutions have distinct names, as real ones do.
fn bulk_name(i: u32) -> (String, String) {
    let i = i as usize;
    let (city_zh, city_en) = BULK_CITIES[i % 12][(i / 12) % 3];
    let (word_zh, word_en) = BULK_WORDS[(i / 36) % 40];
    let (kind_zh, kind_en) = BULK_KINDS[(i / 1440) % 8];
    (
        format!("{city_zh}{word_zh}{kind_zh}"),
        format!("{city_en} {word_en} {kind_en}"),
    )
}

/// Bulk synthetic data for load tests: `scale` institutions with ten filed
/// projects each, appended as ledger batches (one per institution).
async fn load_bulk(store: &dyn Store, scale: u32) -> StoreResult<()> {
    const PROVINCES: &[&str] = &[
        "11", "12", "31", "32", "33", "37", "42", "43", "44", "46", "50", "51",
    ];
    if store.organisation("org-load-000000").await?.is_some() {
        return Ok(());
    }
    let when = When::at(day(2026, 3, 2), 1, 0);
    let system = Actor::system();
    let mut batch = Vec::new();
    for i in 0..scale {
        let province = PROVINCES[i as usize % PROVINCES.len()];
        let id = format!("org-load-{i:06}");
        let payload = projection::OrgRegistered {
            id: id.clone(),
            org_type: MI.into(),
            profile: projection::OrgProfile {
                name_zh: bulk_name(i).0,
                name_en: bulk_name(i).1,
                uscc: Some(fictional_uscc(&format!("12{province}0000"), &id)),
                province_code: province.into(),
                city_zh: BULK_CITIES[i as usize % 12][(i as usize / 12) % 3].0.into(),
                city_en: BULK_CITIES[i as usize % 12][(i as usize / 12) % 3].1.into(),
                grade: Some("3B".into()),
                address_zh: String::new(),
                address_en: String::new(),
            },
        };
        batch.push(NewEvent {
            stream: projection::org_stream(&id),
            kind: projection::ORG_REGISTERED.into(),
            payload: serde_json::to_value(payload)?,
            actor: system.user_id.clone(),
            org: system.org_id.clone(),
            time: when.now.clone(),
            reason: "load-test data".into(),
        });
        if batch.len() == 1000 {
            store.append(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        store.append(std::mem::take(&mut batch)).await?;
    }
    for i in 0..scale {
        let province = PROVINCES[i as usize % PROVINCES.len()];
        let org = format!("org-load-{i:06}");
        let mut events = Vec::new();
        for k in 0..10u32 {
            let id = format!("prj-load-{i:06}-{k}");
            let stream = projection::project_stream(&id);
            let (tz, te, cat, kind) = TITLES[(i as usize + k as usize) % TITLES.len()];
            let ev = |kind_: &str, payload: serde_json::Value| NewEvent {
                stream: stream.clone(),
                kind: kind_.into(),
                payload,
                actor: "bulk-import".into(),
                org: org.clone(),
                time: when.now.clone(),
                reason: "load-test data".into(),
            };
            events.push(ev(
                projection::PROJECT_DRAFTED,
                serde_json::to_value(ProjectDrafted {
                    id: id.clone(),
                    kind: kind.into(),
                    org_id: org.clone(),
                    title_zh: tz.into(),
                    title_en: te.into(),
                    summary_zh: String::new(),
                    summary_en: String::new(),
                    category: cat.into(),
                    pi_name: "负载测试".into(),
                })?,
            ));
            let number = format!("BMT-{province}-2026-L-{:07}", i * 10 + k);
            events.push(ev(
                projection::PROJECT_TRANSITIONED,
                serde_json::to_value(ProjectTransitioned {
                    id: id.clone(),
                    action: "file".into(),
                    from: "accepted".into(),
                    to: "filed".into(),
                    deadline: None,
                    deadline_kind: None,
                    deadline_provisional: false,
                    filing_number: Some(number),
                    signature: None,
                })?,
            ));
        }
        store.append(events).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_names_are_distinct() {
        let names: std::collections::HashSet<String> =
            (0..11_520).map(|i| bulk_name(i).0).collect();
        assert_eq!(names.len(), 11_520);
    }

    #[test]
    fn fictional_codes_pass_the_registry_check() {
        for spec in ORGS {
            let code = fictional_uscc(spec.uscc_head, spec.id);
            assert!(uscc::Uscc::parse(&code).is_ok(), "{} -> {code}", spec.id);
        }
    }

    #[test]
    fn demo_covers_six_provinces_and_the_named_zones() {
        let mut provinces: Vec<&str> = ORGS
            .iter()
            .filter(|o| o.org_type == MI)
            .map(|o| o.province)
            .collect();
        provinces.sort_unstable();
        provinces.dedup();
        assert!(provinces.len() >= 6, "{provinces:?}");
        for p in ["46", "12", "31"] {
            assert!(provinces.contains(&p), "missing {p}");
        }
        assert!(ORGS.iter().filter(|o| o.org_type == MI).count() >= 12);
        assert!(ORGS.iter().any(|o| o.name_zh.contains("乐城")));
    }
}
