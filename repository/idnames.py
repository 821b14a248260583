"""Recognising person names in values (used by :mod:`repository.identifiers`).

A name lexicon (common given names and family names of the UK, the US, France, Germany, Japan
and China, in Latin script and in kanji/hanzi) is combined with the *shape* of names:
capitalised words (``Alice Smith``, ``SMITH, Alice``, ``J. Smith``, ``Jean-Pierre Dupont``),
titles (``Dr Patel``, ``Mrs O'Brien``, ``M. Dupont``, ``Frau Schmidt``, ``田中様``, ``张先生``)
and CJK names (a family name followed by one or two characters). A stop list of words that
begin clinical codes (``Adverse Event``, ``Physician Decision``, ``Grace Score``) keeps codes
out. The lexicon does not need to hold every name: a value needs one lexicon word *and* a name
shape, and a column needs many such values (see the column rules).
"""

from __future__ import annotations

import re

__all__ = ["GIVEN_NAMES", "FAMILY_NAMES", "is_person_name", "known_name", "titled_name", "name_shape", "strict_person_name", "names_in_text", "is_initials",
           "CJK_FAMILY_NAMES"]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())

GIVEN_NAMES = _wordset("""
james john robert michael william david richard joseph thomas charles christopher daniel
matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald
edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon
benjamin samuel gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam
nathan henry peter zachary douglas harold kyle noah carl arthur gerald roger keith jeremy terry
lawrence sean christian albert joe ethan austin jesse willie billy bryan bruce jordan ralph roy
alan wayne eugene juan gabriel louis russell randy vincent philip logan bobby harry johnny
mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty
margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah
stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma
nicole helen samantha katherine christine debra rachel carolyn janet catherine maria heather
diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith
megan andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances kathryn
janice jean abigail alice judy sophia grace denise amber doris marilyn danielle beverly isabella
theresa diana natalie brittany charlotte marie kayla alexis lori oliver harry jack charlie
alfie freddie archie leo oscar theo isla ava mia amelia poppy ella lily sophie chloe jessica
eleanor florence daisy ruby evie imogen phoebe matilda rosie
jean pierre michel andre philippe rene alain jacques bernard marcel daniel roger claude
christian henri francois nicolas patrick gerard julien christophe sebastien laurent stephane
frederic olivier thierry pascal eric david hugo lucas louis gabriel raphael arthur jules
adam mael paul nathan marie jeanne francoise monique catherine nathalie isabelle sylvie
martine christine nicole anne sophie valerie sandrine celine aurelie chloe camille lea manon
emma ines jade louise lina alice juliette margaux clemence
peter wolfgang klaus jurgen dieter hans uwe gunter horst werner manfred helmut gerhard heinz
walter karl kurt rolf bernd frank stefan thomas michael andreas jens uwe torsten matthias
tobias florian lukas leon finn jonas felix maximilian niklas elias ursula helga renate
ingrid gisela monika brigitte karin petra sabine claudia susanne birgit heike anja katrin
stefanie julia laura lena hannah mia sophia emilia marie lina lea anke silke
hiroshi takashi satoshi kenji makoto akira yuki daisuke takuya kazuki shota sho haruto ren
yuto kenta ryota hiroki naoki yusuke tomoko keiko yoko akiko yumiko kazuko hiroko michiko
sachiko naoko yuko mayumi emi ayaka yui haruka misaki sakura aoi hina kaori junko noriko
wei fang min jing li ying lei jun hua hong ping yan jie tao ming xiu lan qiang yong chao
gang hui xin yu hao bo yi juan xia mei na ling yun
mohammed muhammad ahmed ali fatima aisha omar hassan ibrahim yusuf priya raj amit sanjay
anil sunita deepak rajesh
""")

FAMILY_NAMES = _wordset("""
smith jones taylor brown williams wilson johnson davies robinson wright thompson evans walker
white roberts green hall wood jackson clarke harrison turner hughes edwards hill moore clark
lewis harris martin cooper king lee baker allen young morris mitchell ward watson morgan
campbell phillips anderson wilkinson parker james scott murphy bell miller davis garcia
rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres flores rivera gomez
diaz reed cook rogers stewart morales collins nguyen kim patel shah khan singh kaur ahmed
ali hussain begum okafor adeyemi mensah obi nowak kowalski novak
o'brien o'connor o'neill mcdonald macdonald mckenzie fraser reid murray graham ross stewart
kelly ryan walsh byrne doyle
martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent lefebvre
michel garcia david bertrand roux vincent fournier morel girard andre lefevre mercier dupont
lambert bonnet francois martinez legrand garnier faure rousseau blanc guerin muller henry
roussel nicolas perrin morin mathieu clement gauthier dumont lopez fontaine chevalier robin
müller mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann schäfer
schaefer koch bauer richter klein wolf schröder schroeder neumann schwarz zimmermann braun
krüger krueger hofmann hartmann lange schmitt werner schmitz krause meier lehmann schmid
schulze maier köhler koehler herrmann könig koenig walter mayer huber kaiser fuchs peters
lang scholz möller moeller weiß weiss jung hahn schubert vogel friedrich keller günther
sato suzuki takahashi tanaka watanabe ito yamamoto nakamura kobayashi kato yoshida yamada
sasaki yamaguchi matsumoto inoue kimura hayashi shimizu yamazaki mori abe ikeda hashimoto
yamashita ishikawa nakajima maeda fujita ogawa goto okada hasegawa murakami kondo ishii saito
sakamoto endo aoki fujii nishimura fukuda ota miura fujiwara okamoto matsuda nakagawa
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng
liang xie song tang xu han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai
du ye cheng su wei lu ding ren shen yao lu jiang cui zhong tan wang fan jin shi liao jia
xia fu fang bai zou meng xiong qin qiu yin xue yan duan lei hou long shi tao li he gu mao
hao gong shao wan qian yan tan wu dai mo kong xiang tang
""")

#: family names in kanji (Japan) and hanzi (China)
CJK_FAMILY_NAMES = _wordset("""
佐藤 鈴木 高橋 田中 渡辺 伊藤 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 林 斎藤 清水
山崎 森 阿部 池田 橋本 山下 石川 中島 前田 藤田 小川 後藤 岡田 長谷川 村上 近藤 石井 坂本 遠藤 青木
藤井 西村 福田 太田 三浦 藤原 岡本 松田 中川
王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 林 高 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖
田 董 袁 潘 于 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方
白 邹 孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯 龙 史 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 覃 武 戴 莫 孔 向 汤
張 劉 陳 楊 黃 趙 吳 孫 馬 鄭 謝 許 韓 馮 鄧 蕭 董 葉 蘇 呂 盧 鍾 譚 陸 賈 韋 鄒 龍 顧 龔 錢 湯
""")

_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "mme", "mlle",
           "herr", "frau", "monsieur", "madame", "mademoiselle", "doktor", "pr"}
_PARTICLES = {"van", "von", "de", "der", "den", "du", "la", "le", "di", "da", "del", "dos",
              "ter", "zu", "mc", "st", "bin", "ibn", "al", "el"}
#: capitalised words that begin codes, scales, places and institutions, not people
STOP_WORDS = _wordset("""
adverse event events disease progression progressive physician decision patient patients
withdrawal withdrew withdrawn consent lost follow up other unknown not applicable none
death died alive dead protocol violation deviation study trial completed complete
partial response stable score scale index grade stage test group arm control placebo
treatment therapy surgery radiotherapy chemotherapy date time status level type count rate
total mean median hospital hospitals centre center clinic clinical university universite
universität universitätsklinikum klinikum institute institut infirmary royal general
national foundation trust medical health care cancer oncology research unit ward st saint
sainte san santa north south east west new great upper lower central city county region
district street road avenue lane morning evening day week month year january february
march april may june july august september october november december monday tuesday
wednesday thursday friday saturday sunday male female man woman yes no true false high low
normal abnormal positive negative missing refused screening baseline visit cycle dose
intestinal diffuse mixed type early late charlson karnofsky ecog who tnm gleason
apgar glasgow bristol barthel rankin brief mini mental state examination depression anxiety
rating questionnaire inventory performance quality life function survival free overall
asian hispanic latino caucasian african american indian chinese japanese korean
british french german english scottish welsh irish european hopital clinique klinik
krankenhaus chu chru ospedale hospice practice surgery centre medicine pharmacy laboratory
lab department service division primary secondary first second third fourth
metastatic metastasis tumour tumor carcinoma adenocarcinoma lymphoma leukaemia leukemia
syndrome infection failure cardiac renal hepatic pulmonary acute chronic classification
criteria system method formula equation curve estimate estimator model
""")

_WORD = re.compile(r"[^\W\d_][^\W\d_'’.-]*(?:[-'’][^\W\d_]+)*\.?")
_CAP = re.compile(r"^(?:[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-ž'’]+(?:-[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-ž'’]+)?|"
                  r"(?:O'|O’|Mc|Mac)[A-Z][a-z]+|[A-ZÀ-ÖØ-ÞĀ-Ž]{2,}(?:-[A-ZÀ-ÖØ-ÞĀ-Ž]{2,})?)$")
_INITIAL = re.compile(r"^[A-Z]\.?$")
_CJK = re.compile(r"^[\u3400-\u9fff々]+$")
_KANA = re.compile(r"^[\u30a0-\u30ff\u3040-\u309f]+$")
_CJK_HONORIFIC = re.compile(r"([\u3400-\u9fff]{1,2})(?:様|さま|さん|先生|氏|殿|女士|先生|医生|小姐|"
                            r"太太|大夫)")
#: last characters of CJK medical and institutional terms (高血压, 胃癌, 外科, 病院), never of names
_CJK_TERMS = frozenset("病症癌炎压壓瘤伤傷术術药薬剂剤科院室部会會所局")
_FOLD = str.maketrans("àâäáãåçéèêëíìîïñóòôöõúùûüýÿ", "aaaaaaceeeeiiiinooooouuuuyy")


def _fold(word: str) -> str:
    return word.lower().strip(".,").translate(_FOLD)


_LEXICON = frozenset(_fold(w) for w in GIVEN_NAMES | FAMILY_NAMES)
_GIVEN = frozenset(_fold(w) for w in GIVEN_NAMES)
_FAMILY = frozenset(_fold(w) for w in FAMILY_NAMES)


def _in_lexicon(word: str) -> bool:
    w = _fold(word)
    return w in _LEXICON or any(part in _LEXICON for part in w.split("-") if len(part) > 1)


def _is_name_word(word: str) -> bool:
    return bool(_CAP.match(word.strip("."))) and _fold(word) not in STOP_WORDS


def _cjk_name(value: str) -> bool:
    v = value.replace("\u3000", " ").strip()
    parts = v.split()
    if len(parts) == 2 and all(_CJK.match(p) for p in parts):
        return parts[0] in CJK_FAMILY_NAMES and 1 <= len(parts[1]) <= 3
    if len(parts) == 2 and all(_KANA.match(p) for p in parts):  # フリガナ: タナカ タロウ
        return 1 <= len(parts[0]) <= 6 and 1 <= len(parts[1]) <= 6
    if len(parts) != 1 or not _CJK.match(v) or not 2 <= len(v) <= 4 or v[-1] in _CJK_TERMS:
        return False
    return v[:1] in CJK_FAMILY_NAMES or v[:2] in CJK_FAMILY_NAMES or v[:3] in CJK_FAMILY_NAMES


def strict_person_name(text: str) -> str | None:
    """A person's name in a short text such as a column name or a variable label, on strong
    evidence only (eponyms such as "Lauren classification" or "Gleason score" are not names):
    a title and a name, a known given name followed by a known family name, ``FAMILY, Given``
    with both known, or a CJK name (alone, or with an honorific)."""
    m = _TITLE_NAME.search(text)
    if m and _is_name_word(m.group(1).split()[-1]):
        return m.group(0)
    m = _CJK_HONORIFIC.search(text)
    if m and (m.group(1)[:1] in CJK_FAMILY_NAMES or m.group(1) in CJK_FAMILY_NAMES):
        return m.group(0)
    v = text.strip()
    if _CJK.match(v.replace(" ", "").replace("\u3000", "")):
        return v if _cjk_name(v) and " " in v.replace("\u3000", " ") else None
    for m in _FIRST_LAST.finditer(text):
        if _fold(m.group(1)) in _GIVEN and (_fold(m.group(2)) in _FAMILY or (
                _is_name_word(m.group(2)) and not _INSTITUTION.match(text, m.end()))):
            return m.group(0)
    m = re.match(r"^([^\W\d_][\w'’-]+),\s*([^\W\d_][\w'’-]+)$", v)
    if m and _fold(m.group(1)) in _FAMILY and _fold(m.group(2)) in _GIVEN:
        return v
    return None


def name_shape(value: str) -> bool:
    """``value`` is written like a person's name (2-3 capitalised name words, or ``SURNAME,
    Given``), whether or not a word is in the lexicon."""
    v = value.strip()
    if not v or len(v) > 60 or any(c.isdigit() for c in v):
        return False
    words = [w for w in re.split(r"[\s,]+", v) if w and _fold(w) not in _PARTICLES]
    return 2 <= len(words) <= 3 and all(_is_name_word(w) or _INITIAL.match(w) for w in words) \
        and sum(1 for w in words if not _INITIAL.match(w)) >= 2


def titled_name(value: str) -> bool:
    """``value`` is a title and a name, as a whole (``Dr Patel``, ``Mrs J. O'Brien``,
    ``Prof. Weber``, ``Frau Schmidt``)."""
    words = [w for w in re.split(r"[\s,]+", value.strip()) if w]
    return 2 <= len(words) <= 5 and _fold(words[0]) in _TITLES and is_person_name(value)


def known_name(value: str) -> bool:
    """``value`` is one or two words, each a known given or family name (``Alice``,
    ``SMITH``, ``mary jones``)."""
    words = [w for w in re.split(r"[\s,]+", value.strip()) if w]
    return 1 <= len(words) <= 3 and all(_fold(w) in _LEXICON for w in words) and \
        not any(c.isdigit() for c in value)


def is_person_name(value: str) -> bool:
    """``value`` is, as a whole, a person's name: 2-4 name words (or initials), at least one of
    them a known given or family name or following a title; ``SURNAME, Given``; a CJK name."""
    v = value.strip()
    if not v or len(v) > 60 or any(c.isdigit() for c in v):
        return False
    if v.islower():  # "mary jones": only a known given name and a known family name
        words = v.split()
        return 2 <= len(words) <= 3 and _fold(words[0]) in _GIVEN and _fold(words[-1]) in _FAMILY
    if _CJK.match(v.replace(" ", "").replace("\u3000", "")) or _KANA.match(
            v.replace(" ", "").replace("\u3000", "")):
        return _cjk_name(v)
    words = [w for w in re.split(r"[\s,]+", v) if w]
    titled = bool(words) and _fold(words[0]) in _TITLES
    if titled:
        words = words[1:]
    words = [w for w in words if _fold(w) not in _PARTICLES]
    if not 1 <= len(words) <= 4 or (len(words) == 1 and not titled):
        return False
    initials = [w for w in words if _INITIAL.match(w)]
    full = [w for w in words if not _INITIAL.match(w)]
    if not full or not all(_is_name_word(w) for w in full):
        return False
    if titled:
        return True
    if len(initials) == len(words):
        return False
    return any(_in_lexicon(w) for w in full)


_TITLE_NAME = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Mme|Mlle|Herr|Frau|Monsieur|Madame)\.?\s+"
    r"((?:[A-Z]\.?\s+)?(?:O'|O’|Mc|Mac)?[A-ZÀ-ÖØ-Þ][\w'’-]+)")
_FIRST_LAST = re.compile(r"\b([A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+)\s+((?:O'|O’|Mc|Mac)?[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+)")
_INSTITUTION = re.compile(r"(?:\s+[\w'’-]+)?\s+(?:Hospital|Centre|Center|Institute|Institut|Clinic|"
                          r"Cancer|University|Klinik|Klinikum|Infirmary|Foundation|Trust|"
                          r"Memorial|College|School|Hôpital|Hopital|Medical|Health)\b")
_M_DOT = re.compile(r"\bM\.\s+([A-ZÀ-ÖØ-Þ][\w'’-]+)")


def names_in_text(text: str) -> str | None:
    """A person's name mentioned inside free text (a title and a name, a known given name
    followed by a capitalised word, or a CJK name with an honorific), or None."""
    if len(text) < 4:
        return None
    m = _TITLE_NAME.search(text)
    if m and _is_name_word(m.group(1).split()[-1]):
        return m.group(0)
    m = _M_DOT.search(text)
    if m and _fold(m.group(1)) in _FAMILY:
        return m.group(0)
    for m in _FIRST_LAST.finditer(text):
        first, last = m.group(1), m.group(2)
        if _fold(first) in _GIVEN and _is_name_word(last) and \
                not _INSTITUTION.match(text, m.end()):
            return m.group(0)
    m = _CJK_HONORIFIC.search(text)
    if m and (m.group(1)[:1] in CJK_FAMILY_NAMES or m.group(1) in CJK_FAMILY_NAMES):
        return m.group(0)
    return None


_INITIALS_DOTTED = re.compile(r"^[A-Z]\.\s?(?:[A-Z]\.\s?){1,2}$|^[A-Z]\.?-[A-Z]\.?(?:-[A-Z]\.?)?$")
_INITIALS_PLAIN = re.compile(r"^[A-Z]{2,3}$")


#: two- and three-letter codes that are not initials: ISO 3166 countries, US states, Canadian
#: provinces
LETTER_CODES = _wordset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW UK EU
AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC
ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AB BC MB NB NL NS NT NU ON PE QC SK YT
AFG ALB DZA AND AGO ARG ARM AUS AUT AZE BHS BHR BGD BRB BLR BEL BLZ BEN BTN BOL BIH BWA BRA BRN
BGR BFA BDI KHM CMR CAN CPV CAF TCD CHL CHN COL COM COG COD CRI CIV HRV CUB CYP CZE DNK DJI DMA
DOM ECU EGY SLV GNQ ERI EST SWZ ETH FJI FIN FRA GAB GMB GEO DEU GHA GRC GRD GTM GIN GNB GUY HTI
HND HKG HUN ISL IND IDN IRN IRQ IRL ISR ITA JAM JPN JOR KAZ KEN KIR PRK KOR KWT KGZ LAO LVA LBN
LSO LBR LBY LIE LTU LUX MDG MWI MYS MDV MLI MLT MHL MRT MUS MEX FSM MDA MCO MNG MNE MAR MOZ MMR
NAM NRU NPL NLD NZL NIC NER NGA MKD NOR OMN PAK PLW PAN PNG PRY PER PHL POL PRT QAT ROU RUS RWA
KNA LCA VCT WSM SMR STP SAU SEN SRB SYC SLE SGP SVK SVN SLB SOM ZAF SSD ESP LKA SDN SUR SWE CHE
SYR TWN TJK TZA THA TLS TGO TON TTO TUN TUR TKM TUV UGA UKR ARE GBR USA URY UZB VUT VEN VNM YEM
ZMB ZWE PRI
""")


def is_initials(value: str, *, plain: bool = False) -> bool:
    """Initials written with dots or hyphens (``J.S.``, ``J-M-S``); with ``plain``, also
    ``JS``/``JMS`` (only used for columns named as initials)."""
    v = value.strip()
    return bool(_INITIALS_DOTTED.match(v) or (plain and _INITIALS_PLAIN.match(v)))
