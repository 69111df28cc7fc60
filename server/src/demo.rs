//! Demo data for `serve --demo`: plans, three dozen experts around Chicago with varied
//! skills and areas, a knowledge base of a few hundred articles, staff logins and a
//! customer. Loaded once (a marker in the database), beside whatever is already there.

use crate::auth::{Role, hash_password_blocking};
use crate::db::Db;
use crate::db::entity::{customer, expert, kb_article, plan, server_setting, subscription, user};
use chrono::{Duration, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sysops_core::category::Category;
use uuid::Uuid;

const MARKER: &str = "demo_loaded";
const CITY: (f64, f64) = (41.8781, -87.6298);

/// Demo logins: (role, e-mail, password).
pub const LOGINS: &[(&str, &str, &str)] = &[
    ("admin", "admin@sysops.example", "admin-demo-pass"),
    ("manager", "manager@sysops.example", "manager-demo-pass"),
    ("agent", "agent@sysops.example", "agent-demo-pass"),
    ("customer", "pat.customer@example.com", "customer-demo-pass"),
    ("expert", "expert01@sysops.example … expert36@sysops.example", "expert-demo-pass"),
];

/// Prints the demo logins.
pub fn print_logins() {
    println!("demo logins:");
    for (role, email, password) in LOGINS {
        println!("  {role:<9} {email:<52} password: {password}");
    }
}

const EXPERT_NAMES: &[&str] = &[
    "Maya Patel",
    "Luis Ortega",
    "Agnieszka Nowak",
    "Darnell Brooks",
    "Hannah Kim",
    "Tomasz Wiśniewski",
    "Priya Raman",
    "Marcus Johnson",
    "Elena Petrova",
    "Jamal Carter",
    "Sofia Alvarez",
    "Kevin O'Brien",
    "Aisha Bello",
    "Ryan Murphy",
    "Mei Lin",
    "Carlos Mendoza",
    "Grace Okafor",
    "Daniel Schmidt",
    "Fatima Hassan",
    "Jonah Weiss",
    "Rosa Delgado",
    "Ben Thompson",
    "Yuki Tanaka",
    "Andre Williams",
    "Katarzyna Zielińska",
    "Omar Farouk",
    "Lily Chen",
    "Miguel Torres",
    "Nora Lindqvist",
    "Samuel Adeyemi",
    "Ivy Nguyen",
    "Patrick Walsh",
    "Zara Malik",
    "Victor Ruiz",
    "Chloe Dubois",
    "Ethan Brooks",
];

/// A tiny deterministic generator so the demo is the same every time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
}

/// Loads the demo data unless it was loaded before.
pub async fn seed(db: &Db) -> anyhow::Result<()> {
    if server_setting::Entity::find_by_id(MARKER.to_owned()).one(&db.write).await?.is_some() {
        tracing::info!("demo data already loaded");
        return Ok(());
    }
    let hashes: Vec<String> = tokio::task::spawn_blocking(|| {
        ["admin-demo-pass", "manager-demo-pass", "agent-demo-pass", "customer-demo-pass", "expert-demo-pass"]
            .iter()
            .map(|p| hash_password_blocking(p))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    let txn = db.begin_write().await?;
    let now = Utc::now();
    for (i, (role, name)) in
        [(Role::Admin, "Ada Admin"), (Role::Manager, "Morgan Manager"), (Role::Agent, "Alex Agent")]
            .into_iter()
            .enumerate()
    {
        add_user(&txn, Uuid::now_v7(), LOGINS[i].1, &hashes[i], role, name).await?;
    }
    let plans = [
        ("Home Basic", vec![Category::Television, Category::Audio, Category::Appliance], 1499),
        (
            "Digital Life",
            vec![
                Category::Laptop,
                Category::Desktop,
                Category::Phone,
                Category::Tablet,
                Category::Printer,
                Category::Network,
            ],
            2499,
        ),
        ("Total Home", Category::ALL.to_vec(), 3999),
    ];
    let mut plan_ids = Vec::new();
    for (name, cats, price) in plans {
        let id = Uuid::now_v7();
        plan_ids.push(id);
        plan::Entity::insert(plan::ActiveModel {
            id: Set(id),
            name: Set(name.to_owned()),
            categories: Set(serde_json::json!(cats.iter().map(|c| c.slug()).collect::<Vec<_>>())),
            monthly_price_cents: Set(price),
            currency: Set("USD".to_owned()),
            active: Set(true),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
    }
    let customer_id = Uuid::now_v7();
    let mut billed = None;
    if add_user(&txn, customer_id, LOGINS[3].1, &hashes[3], Role::Customer, "Pat Customer").await? {
        customer::Entity::insert(customer::ActiveModel {
            user_id: Set(customer_id),
            phone: Set("+13125550142".to_owned()),
            notify_by: Set("email".to_owned()),
            address: Set("233 S Wacker Dr, Chicago, IL 60606".to_owned()),
            lat: Set(41.8789),
            lon: Set(-87.6359),
            created_at: Set(now),
            locale: Set("en-US".to_owned()),
        })
        .exec_without_returning(&txn)
        .await?;
        crate::customers::file_terms(&txn, customer_id, "Pat Customer", LOGINS[3].1, "+13125550142").await?;
        subscription::Entity::insert(subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            customer_id: Set(customer_id),
            plan_id: Set(plan_ids[2]),
            product: Set("Living-room TV and home office".to_owned()),
            status: Set("active".to_owned()),
            started_at: Set(now - Duration::days(40)),
            cancelled_at: Set(None),
            billing_interval: Set("monthly".to_owned()),
            cancel_at_period_end: Set(false),
        })
        .exec_without_returning(&txn)
        .await?;
        billed = Some(customer_id);
    }
    let mut rng = Lcg(0x5eed);
    let locales = ["en-US", "en-US", "en-US", "es-US", "pl-PL", "en-US"];
    for (i, name) in EXPERT_NAMES.iter().enumerate() {
        let id = Uuid::now_v7();
        let email = format!("expert{:02}@sysops.example", i + 1);
        if !add_user(&txn, id, &email, &hashes[4], Role::Expert, name).await? {
            continue;
        }
        let n_skills = 2 + (rng.next() % 3) as usize;
        let mut skills: Vec<&str> = Vec::new();
        while skills.len() < n_skills {
            let c = rng.pick(Category::ALL).slug();
            if !skills.contains(&c) {
                skills.push(c);
            }
        }
        let (dlat, dlon) = ((rng.unit() - 0.5) * 0.4, (rng.unit() - 0.5) * 0.5);
        let radius = 10.0 + (rng.next() % 31) as f64;
        expert::Entity::insert(expert::ActiveModel {
            user_id: Set(id),
            phone: Set(format!("+1312555{:04}", 1000 + i)),
            skills: Set(serde_json::json!(skills)),
            area_lat: Set(CITY.0 + dlat),
            area_lon: Set(CITY.1 + dlon),
            area_radius_km: Set(radius),
            locale: Set((*rng.pick(&locales)).to_owned()),
            lat: Set(CITY.0 + dlat + (rng.unit() - 0.5) * 0.05),
            lon: Set(CITY.1 + dlon + (rng.unit() - 0.5) * 0.05),
            on_duty: Set(i % 9 != 4),
            capacity: Set(3),
            last_assigned_at: Set(None),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
    }
    for a in kb_articles() {
        kb_article::Entity::insert(kb_article::ActiveModel {
            id: Set(Uuid::now_v7()),
            title: Set(a.0),
            body: Set(a.1),
            tags: Set(serde_json::json!(a.2)),
            status: Set("published".to_owned()),
            author_id: Set(None),
            source_ticket_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
    }
    server_setting::Entity::insert(server_setting::ActiveModel {
        key: Set(MARKER.to_owned()),
        value: Set(now.to_rfc3339()),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    if let Some(c) = billed {
        seed_billing(db, c).await?;
    }
    tracing::info!("demo data loaded");
    Ok(())
}

/// A year of billing for the demo customer: a card on file (display details only; the
/// processor ids are the demo's own), the invoices of every monthly period so far issued
/// by the billing service (with 8.25% tax), each paid by card the day its period began,
/// and one partial refund, all through the ledger.
async fn seed_billing(db: &Db, customer: Uuid) -> anyhow::Result<()> {
    use sysops_core::billing::{Rounding, TaxTable};
    let b = db.backend();
    let q = |sql: &str, values: Vec<sea_orm::Value>| sea_orm::Statement::from_sql_and_values(b, sql, values);
    let now = Utc::now();
    let txn = db.begin_write().await?;
    // Subscribed a year ago, so that a year of monthly invoices is due.
    txn.execute_raw(q(
        "UPDATE subscriptions SET started_at = $1 WHERE customer_id = $2",
        vec![(now - Duration::days(365)).into(), customer.into()],
    ))
    .await?;
    txn.execute_raw(q(
        "INSERT INTO billing_accounts (customer_id, processor_customer_id, payment_method_id, card_brand, card_last4, \
         card_exp_month, card_exp_year, country, credit_balance, created_at, updated_at) \
         VALUES ($1, $2, 'pm_demo_visa', 'visa', '4242', 12, 2029, 'US', 0, $3, $3)",
        vec![customer.into(), format!("cus_demo_{}", customer.simple()).into(), now.into()],
    ))
    .await?;
    txn.commit().await?;
    let tax = TaxTable::parse("US=825", Rounding::HalfUp).map_err(|e| anyhow::anyhow!(e.message))?;
    let billing = crate::billing::Billing::new(db.clone(), None, tax, "demo".into(), String::new(), false);
    billing.issue(now.date_naive()).await.map_err(|e| anyhow::anyhow!("demo invoices: {e}"))?;
    let invoices = txn_rows(db, customer).await?;
    let txn = db.begin_write().await?;
    for (i, (id, total, currency, start)) in invoices.iter().enumerate() {
        // Issued at the start of its period (as the billing job would have), paid soon after.
        let issued = start.and_hms_opt(0, 5, 0).map_or(now, |t| t.and_utc()).min(now);
        let paid = start.and_hms_opt(6, 0, 0).map_or(now, |t| t.and_utc()).min(now).max(issued);
        let pi = format!("pi_demo_{}", id.simple());
        txn.execute_raw(q(
            "UPDATE invoices SET status = 'paid', paid_at = $1, payment_intent_id = $2, next_attempt_at_ms = NULL, \
             issued_at = $4 WHERE id = $3 AND status = 'open'",
            vec![paid.into(), pi.clone().into(), (*id).into(), issued.into()],
        ))
        .await?;
        txn.execute_raw(q(
            "INSERT INTO payment_attempts (id, invoice_id, attempt, at, outcome, payment_intent_id) \
             VALUES ($1, $2, 1, $3, 'succeeded', $4)",
            vec![Uuid::now_v7().into(), (*id).into(), paid.into(), pi.clone().into()],
        ))
        .await?;
        txn.execute_raw(q(
            "INSERT INTO ledger_entries (id, invoice_id, customer_id, kind, amount, currency, dedupe_key, processor_ref, \
             created_at) VALUES ($1, $2, $3, 'charge', $4, $5, $6, $7, $8)",
            vec![
                Uuid::now_v7().into(),
                (*id).into(),
                customer.into(),
                (*total).into(),
                currency.clone().into(),
                format!("charge:{id}").into(),
                pi.into(),
                paid.into(),
            ],
        ))
        .await?;
        if i == 4 {
            let refund = 1000i64;
            let at = paid + Duration::days(2);
            txn.execute_raw(q(
                "UPDATE invoices SET amount_refunded = $1 WHERE id = $2",
                vec![refund.into(), (*id).into()],
            ))
            .await?;
            txn.execute_raw(q(
                "INSERT INTO ledger_entries (id, invoice_id, customer_id, kind, amount, currency, dedupe_key, \
                 processor_ref, reason, created_at) VALUES ($1, $2, $3, 'refund', $4, $5, $6, $7, $8, $9)",
                vec![
                    Uuid::now_v7().into(),
                    (*id).into(),
                    customer.into(),
                    refund.into(),
                    currency.clone().into(),
                    format!("refund:re_demo_{}", id.simple()).into(),
                    format!("re_demo_{}", id.simple()).into(),
                    "The expert arrived a day later than promised".to_owned().into(),
                    at.into(),
                ],
            ))
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The demo customer's invoices, oldest first: id, total, currency, period start.
async fn txn_rows(db: &Db, customer: Uuid) -> anyhow::Result<Vec<(Uuid, i64, String, chrono::NaiveDate)>> {
    let rows = db
        .read
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            db.backend(),
            "SELECT id, total, currency, period_start FROM invoices WHERE customer_id = $1 ORDER BY period_start",
            vec![customer.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<Uuid>("", "id")?,
                r.try_get::<i64>("", "total")?,
                r.try_get::<String>("", "currency")?,
                r.try_get::<chrono::NaiveDate>("", "period_start")?,
            ))
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// Adds a user unless the e-mail is taken (returns whether it was added).
async fn add_user(
    c: &impl ConnectionTrait,
    id: Uuid,
    email: &str,
    hash: &str,
    role: Role,
    name: &str,
) -> anyhow::Result<bool> {
    if user::Entity::find().filter(user::Column::Email.eq(email)).one(c).await?.is_some() {
        tracing::warn!(email, "demo user skipped: the e-mail is already taken");
        return Ok(false);
    }
    user::Entity::insert(user::ActiveModel {
        id: Set(id),
        email: Set(email.to_owned()),
        password_hash: Set(hash.to_owned()),
        role: Set(role.as_str().to_owned()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
        disabled: Set(false),
    })
    .exec_without_returning(c)
    .await?;
    Ok(true)
}

/// (problem, cause, fix steps) per category.
fn problems(c: Category) -> &'static [(&'static str, &'static str, &'static str)] {
    use Category::*;
    match c {
        Television => &[
            (
                "no signal on HDMI input",
                "a stale HDCP handshake after a firmware update",
                "Power-cycle the TV and the source for 60 seconds, reseat the HDMI cable, then switch inputs away and back. If it persists, enable HDMI-CEC and update the source's firmware.",
            ),
            (
                "screen flickers at low brightness",
                "PWM dimming interacting with the energy-saving mode",
                "Turn off eco mode and dynamic backlight, set the backlight above 30%, and install the latest panel firmware.",
            ),
            (
                "apps crash on launch",
                "a full internal cache after months of streaming",
                "Clear the app cache from Settings > Apps, uninstall unused apps, and perform a soft reset by holding the power button for 10 seconds.",
            ),
            (
                "no sound from soundbar over ARC",
                "ARC disabled after an input rename",
                "Enable HDMI-CEC on both devices, select the eARC port, and set the TV audio output to the receiver.",
            ),
        ],
        Laptop => &[
            (
                "battery drains overnight while asleep",
                "modern standby waking for network activity",
                "Switch to hibernate after 30 minutes of sleep, disable wake timers, and update the BIOS and chipset drivers.",
            ),
            (
                "fan runs loudly under light load",
                "dust in the heat sink and dried thermal paste",
                "Clean the vents with compressed air, check the fan curve in the vendor utility, and repaste the CPU if temperatures stay above 85 °C.",
            ),
            (
                "Wi-Fi drops every few minutes",
                "aggressive power management on the wireless adapter",
                "Disable 'allow the computer to turn off this device', update the Wi-Fi driver, and pin the router channel.",
            ),
            (
                "keyboard types repeated letters",
                "a worn switch or debris under the key",
                "Remove debris with compressed air at an angle, check the key repeat delay, and replace the keyboard if one key keeps chattering.",
            ),
        ],
        Desktop => &[
            (
                "computer restarts during games",
                "an overloaded or aging power supply",
                "Check the event log for Kernel-Power 41, test with a known-good PSU of adequate wattage, and reseat the GPU power connectors.",
            ),
            (
                "no display after waking from sleep",
                "the GPU failing to resume its link",
                "Disable fast startup, update the GPU driver, and connect the monitor with DisplayPort instead of HDMI.",
            ),
            (
                "boot takes several minutes",
                "a failing hard drive or too many startup programs",
                "Check SMART status, disable startup programs, and migrate the system to an SSD.",
            ),
        ],
        Phone => &[
            (
                "phone does not charge with its cable",
                "lint packed into the charging port",
                "Power off and remove lint with a wooden toothpick, try a certified cable, and check the charging-port flex if it still fails.",
            ),
            (
                "calls drop in the customer's home",
                "weak indoor coverage on the carrier's band",
                "Enable Wi-Fi calling, reset network settings, and check the carrier's coverage map; offer a signal booster.",
            ),
            (
                "storage full although few photos",
                "messaging attachments and system caches",
                "Offload old message attachments, clear app caches, and enable photo optimisation in cloud backup.",
            ),
        ],
        Tablet => &[
            (
                "touch screen ignores taps along one edge",
                "a screen protector lifting at the edge",
                "Remove the protector, clean the glass, recalibrate touch, and replace the digitizer if the dead zone persists.",
            ),
            (
                "tablet will not pair with its keyboard",
                "a stale Bluetooth pairing record",
                "Forget the keyboard on the tablet, reset the keyboard, and pair again within 30 cm.",
            ),
            (
                "tablet too slow after an update",
                "background indexing after a major OS update",
                "Leave the tablet charging overnight on Wi-Fi to finish indexing, then clear caches and reboot.",
            ),
        ],
        Printer => &[
            (
                "printer shows offline on the network",
                "an IP address change after a router reboot",
                "Give the printer a DHCP reservation, re-add it by IP, and disable SNMP status in the port settings.",
            ),
            (
                "streaks on printed pages",
                "clogged nozzles or a worn drum",
                "Run two head-cleaning cycles, print a nozzle check, and replace the cartridge or drum if streaks remain.",
            ),
            (
                "paper jams on every duplex page",
                "worn pickup rollers",
                "Clean the rollers with a lint-free cloth and water, use paper of the right weight, and replace the roller kit.",
            ),
        ],
        Network => &[
            (
                "Wi-Fi is slow upstairs",
                "a single router behind walls and floors",
                "Move the router to a central location, set 5 GHz on a clean channel, and install mesh nodes on each floor.",
            ),
            (
                "internet drops every evening",
                "the modem overheating or line noise",
                "Check modem logs for T3/T4 timeouts, give the modem ventilation, and ask the ISP for a line test.",
            ),
            (
                "smart devices cannot join Wi-Fi",
                "band steering putting 2.4 GHz devices on 5 GHz",
                "Create a separate 2.4 GHz SSID with WPA2, disable band steering, and pair the devices to it.",
            ),
        ],
        Camera => &[
            (
                "camera shows a lens error",
                "sand or a knock jamming the lens barrel",
                "Power off, tap the side gently, and never force the barrel; send for lens unit replacement if the error returns.",
            ),
            (
                "photos are blurry in low light",
                "the shutter speed dropping below hand-holdable",
                "Enable image stabilisation, set a minimum shutter speed, and raise the ISO limit.",
            ),
            (
                "security camera goes offline at night",
                "the IR illuminators overloading a weak power supply",
                "Use the supplied adapter or PoE of the right class, and check the cable run length.",
            ),
        ],
        Audio => &[
            (
                "receiver shuts off at high volume",
                "speaker impedance too low for the amplifier",
                "Set the receiver impedance switch to match the speakers, check for shorted wire strands, and improve ventilation.",
            ),
            (
                "Bluetooth speaker cuts out",
                "2.4 GHz interference from Wi-Fi and microwaves",
                "Keep the source within 5 m, move the speaker away from the router, and update its firmware.",
            ),
            (
                "hum from the subwoofer",
                "a ground loop through the cable TV line",
                "Plug all components into one outlet strip and fit a ground-loop isolator on the coax.",
            ),
        ],
        Appliance => &[
            (
                "dishwasher leaves dishes wet",
                "rinse aid empty or the heating element failing",
                "Refill rinse aid, enable heated dry, and test the heating element for continuity.",
            ),
            (
                "washer will not drain",
                "a blocked drain pump filter",
                "Open the filter door at the bottom front, drain into a tray, and clear the pump filter of debris.",
            ),
            (
                "fridge is warm but the freezer works",
                "a frosted evaporator blocking air flow",
                "Defrost the unit for 24 hours, then check the defrost heater and thermostat.",
            ),
        ],
        GamingConsole => &[
            (
                "console overheats and shuts down",
                "blocked vents and dust in the fan",
                "Place the console in open air, vacuum the vents, and update the system software.",
            ),
            (
                "controller drifts",
                "wear in the analogue stick potentiometers",
                "Recalibrate the sticks, update controller firmware, and replace the stick module if drift persists.",
            ),
            (
                "games fail to download",
                "DNS or NAT type problems",
                "Set DNS to the router or a public resolver, enable UPnP, and test the connection from the console menu.",
            ),
        ],
        SmartHome => &[
            (
                "smart lock goes offline",
                "weak batteries or a hub too far away",
                "Replace the batteries with fresh alkaline cells, and add a repeater between the hub and the door.",
            ),
            (
                "thermostat shows a wiring error",
                "no C-wire powering the thermostat",
                "Install a C-wire or a power extender kit at the furnace control board.",
            ),
            (
                "voice assistant does not control lights",
                "the bulbs on a different account or hub",
                "Re-link the skill, rediscover devices, and make sure the bulbs and hub share one home in the app.",
            ),
        ],
        Wearable => &[
            (
                "watch battery lasts less than a day",
                "always-on display and frequent sensor polling",
                "Turn off the always-on display, reduce heart-rate sampling, and unpair unused notifications.",
            ),
            (
                "watch will not sync with the phone",
                "background app refresh disabled",
                "Allow background refresh and Bluetooth for the companion app, and re-pair if sync still fails.",
            ),
        ],
        Monitor => &[
            (
                "monitor flickers at 144 Hz",
                "a cable not rated for the bandwidth",
                "Use a certified DisplayPort 1.4 cable, disable variable refresh to test, and update the GPU driver.",
            ),
            (
                "colours look washed out",
                "limited RGB range over HDMI",
                "Set full RGB range in the GPU control panel and choose the sRGB preset on the monitor.",
            ),
            (
                "projector image is dim",
                "an aging lamp or eco mode",
                "Check lamp hours, clean the filter, and switch the lamp mode to normal.",
            ),
        ],
    }
}

/// A few hundred articles: every problem for several brands, with varied wording.
fn kb_articles() -> Vec<(String, String, Vec<String>)> {
    const BRANDS: &[&str] = &["Samsung", "LG", "Sony", "HP", "Dell", "Lenovo", "Apple", "Bosch", "Canon", "Netgear"];
    let openers = ["Customers report that", "A common call:", "Seen repeatedly in the field:", "Typical symptom:"];
    let mut out = Vec::new();
    let mut rng = Lcg(42);
    for c in Category::ALL {
        for (problem, cause, fix) in problems(*c) {
            let n = if problems(*c).len() >= 4 { 5 } else { 7 };
            for _ in 0..n {
                let brand = rng.pick(BRANDS);
                let minutes = 10 + rng.next() % 50;
                let title = format!("{brand} {}: {problem}", c.label().to_lowercase().trim_end_matches('s'));
                let body = format!(
                    "{} the {brand} {} has this problem: {problem}.\n\nCause: {cause}.\n\nFix: {fix}\n\n\
                     Typical time on site: {minutes} minutes. Record the model and firmware version on the ticket, \
                     and if the fix does not hold, escalate with photos of any error screen.",
                    rng.pick(&openers),
                    c.label().to_lowercase(),
                );
                let keyword = problem.split_whitespace().find(|w| w.len() > 4).unwrap_or(problem).to_owned();
                out.push((title, body, vec![c.slug().to_owned(), brand.to_lowercase(), keyword]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_knowledge_base_has_a_few_hundred_distinct_articles() {
        let a = super::kb_articles();
        assert!((250..=400).contains(&a.len()), "{}", a.len());
        assert!(a.iter().all(|(t, b, _)| t.len() >= 3 && t.len() <= 200 && !b.is_empty()));
    }
}
