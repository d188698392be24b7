{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- The full 2017 scorecard per county and year (spec §4.4, 41 items): Q1-Q7 per level (the CV against its threshold;
-- with the county value, the standard and the parts below it), QS per level (the school rule: every part meets at
-- least 6 of the 7 standards and the one it misses reaches 85% of its standard), G01-G15 (G03-G05 from the census,
-- counting the schools that fail), E01-E09 and S01 from the county return. status: met / not_met / no_data (not
-- reported, or a school the rule cannot judge). Every figure the scorecard shows is a typed column; `detail` and
-- `requirement` repeat them as bilingual text for analysts.

with counties as (
    select distinct year, county_code, left(county_code, 2) as province_code
    from {{ ref('int_school_parts') }} where {{ year_filter() }}
    union
    select distinct year, county_code, province_code
    from {{ ref('stg_county_returns') }} where {{ year_filter() }}
),

-- requirement rows resolved per county: national rows, replaced by a province's complete override row
-- (empty cells are NULL; thresholds are read as text so that a seed file used as a unit-test fixture also works)
req as (
    select
        c.year, c.county_code, n.item,
        nullif({{ cfg('r', 'part') }}, '') as part,
        nullif({{ cfg('r', 'source') }}, '') as source,
        nullif({{ cfg('r', 'field_1') }}, '') as field_1,
        nullif({{ cfg('r', 'op_1') }}, '') as op_1,
        cast(nullif(cast({{ cfg('r', 'threshold_1') }} as varchar), '') as double) as threshold_1,
        nullif({{ cfg('r', 'field_2') }}, '') as field_2,
        nullif({{ cfg('r', 'op_2') }}, '') as op_2,
        cast(nullif(cast({{ cfg('r', 'threshold_2') }} as varchar), '') as double) as threshold_2,
        {{ cfg('r', 'requirement_zh') }} as requirement_zh,
        {{ cfg('r', 'requirement_en') }} as requirement_en
    from counties c
    join {{ ref('scorecard_requirements') }} n on n.province_code = '*'
    left join {{ ref('scorecard_requirements') }} r_p on r_p.province_code = c.province_code and r_p.item = n.item
    left join {{ ref('scorecard_requirements') }} r_n on r_n.province_code = '*' and r_n.item = n.item
),

returns_long as (
    unpivot (
        select
            year, county_code,
            {%- for col in ['layout_planned', 'urban_rural_unified', 'small_school_funding_floor',
                'special_school_funding_per_student', 'teacher_pay_ratio', 'training_completion_rate',
                'staffing_within_quota', 'exchange_rate', 'backbone_exchange_share', 'certified_teacher_rate',
                'nearby_enrollment_primary_rate', 'nearby_enrollment_junior_rate', 'quota_allocation_rate',
                'left_behind_care_system', 'migrant_public_rate', 'junior_retention_rate',
                'disabled_enrollment_rate', 'charter_and_it', 'training_budget_share', 'ict_teaching',
                'moral_education_good', 'curriculum_complete', 'homework_burden_ok', 'monitoring_level_ok',
                'monitoring_between_school_rate', 'social_recognition_rate'] %}
            cast({{ col }} as double) as {{ col }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ ref('stg_county_returns') }}
        where {{ year_filter() }}
    )
    on columns(* exclude (year, county_code))
    into name field value num_value
),

return_items as (
    select
        q.year, q.county_code, q.part, q.item,
        cast(null as varchar) as level,
        v1.num_value as value,
        v2.num_value as value_2,
        q.field_1,
        q.field_2,
        case when q.field_2 is not null then
            q.field_1 || '=' || coalesce(cast(v1.num_value as varchar), 'NULL') || '; '
            || q.field_2 || '=' || coalesce(cast(v2.num_value as varchar), 'NULL')
        end as detail,
        q.requirement_zh,
        q.requirement_en,
        {{ eval_requirement('v1.num_value', 'q.op_1', 'q.threshold_1') }} as ok_1,
        case when q.field_2 is null then true else {{ eval_requirement('v2.num_value', 'q.op_2', 'q.threshold_2') }} end as ok_2,
        false as provisional
    from req q
    left join returns_long v1 on v1.year = q.year and v1.county_code = q.county_code and v1.field = q.field_1
    left join returns_long v2 on v2.year = q.year and v2.county_code = q.county_code and v2.field = q.field_2
    where q.source = 'return'
),

guarantee as (
    select year, county_code, item,
           count(*) as schools,
           count(*) filter (where met = false) as failing,
           count(*) filter (where met is null) as unknown
    from (
        select year, county_code, 'G03' as item, g03_met as met from {{ ref('int_school_guarantee') }}
        where g03_applies and {{ year_filter() }}
        union all
        select year, county_code, 'G04', g04_met from {{ ref('int_school_guarantee') }} where {{ year_filter() }}
        union all
        select year, county_code, 'G05', g05_met from {{ ref('int_school_guarantee') }} where {{ year_filter() }}
    ) x
    group by year, county_code, item
),

census_items as (
    select
        q.year, q.county_code, q.part, q.item,
        cast(null as varchar) as level,
        cast(coalesce(g.failing, 0) as double) as value,
        coalesce(g.failing, 0) as schools_failing,
        coalesce(g.schools, 0) as schools_checked,
        coalesce(g.unknown, 0) as schools_unknown,
        '不达标学校 schools failing: ' || coalesce(g.failing, 0) || ' / ' || coalesce(g.schools, 0)
            || '; 未报 not reported: ' || coalesce(g.unknown, 0) as detail,
        q.requirement_zh,
        q.requirement_en,
        case when g.failing > 0 then false when coalesce(g.unknown, 0) = 0 then true end as ok_1,
        true as ok_2,
        false as provisional
    from req q
    left join guarantee g on g.year = q.year and g.county_code = q.county_code and g.item = q.item
    where q.source = 'census'
),

below as (
    select year, county_code, level, indicator, count(*) filter (where meets = false) as below_standard,
           any_value(standard) as standard
    from {{ ref('school_indicators') }}
    where method = 'quality' and {{ year_filter() }}
    group by year, county_code, level, indicator
),

resource_items as (
    select
        cv.year, cv.county_code, 'resource' as part, cv.indicator as item, cv.level,
        cv.cv as value,
        cv.county_value,
        b.standard,
        coalesce(b.below_standard, 0) as schools_failing,
        cv.schools as schools_checked,
        cv.schools_not_reported as schools_unknown,
        '县域值 county value: ' || coalesce(cast(round(cv.county_value, 4) as varchar), 'NULL')
            || '; 标准 standard: ' || coalesce(cast(b.standard as varchar), 'NULL')
            || '; 低于标准学校 parts below standard: ' || coalesce(b.below_standard, 0) || ' / ' || cv.schools as detail,
        '差异系数 ≤ ' || cast(cv.cv_threshold as varchar) as requirement_zh,
        'CV at most ' || cast(cv.cv_threshold as varchar) as requirement_en,
        cv.cv_threshold as threshold,
        cv.meets_cv as ok_1,
        true as ok_2,
        cv.provisional
    from {{ ref('county_indicator_cv') }} cv
    left join below b using (year, county_code, level, indicator)
    where cv.method = 'quality' and {{ year_filter('cv.year') }}
),

-- QS (spec §4.1 school rule, §4.4): per level, every school part of the 2017 scope meets it. not_met when a part
-- fails, no_data when a part cannot be judged (unreported values) and none fails; provisional when the verdict
-- without the warning-flagged parts differs (as county_balance counts them).
school_rule as (
    select
        year, county_code, level,
        count(*) as parts,
        count(*) filter (where compliant = false) as failing,
        count(*) filter (where compliant is null) as unknown,
        count(*) filter (where compliant = false and not warning_flagged) as failing_clean,
        count(*) filter (where compliant is null and not warning_flagged) as unknown_clean
    from {{ ref('school_quality_compliance') }}
    where {{ year_filter() }}
    group by year, county_code, level
),

school_rule_items as (
    select
        s.year, s.county_code, 'resource' as part, 'QS' as item, s.level,
        cast(s.failing as double) as value,
        s.failing as schools_failing,
        s.parts as schools_checked,
        s.unknown as schools_unknown,
        '不达标学校 schools failing: ' || s.failing || ' / ' || s.parts
            || '; 无法判定 undetermined: ' || s.unknown as detail,
        '每所学校至少' || cast(cast({{ cfg('mn', 'value') }} as integer) as varchar) || '项达到标准，其余不低于标准的'
            || cast(cast(round({{ cfg('sh', 'value') }} * 100) as integer) as varchar) || '%' as requirement_zh,
        'every school part meets at least ' || cast(cast({{ cfg('mn', 'value') }} as integer) as varchar)
            || ' of the 7 standards and the other reaches '
            || cast(cast(round({{ cfg('sh', 'value') }} * 100) as integer) as varchar) || '% of its standard' as requirement_en,
        case when s.failing > 0 then false when s.unknown = 0 then true end as ok_1,
        true as ok_2,
        (case when s.failing > 0 then 'not_met' when s.unknown > 0 then 'no_data' else 'met' end)
            <> (case when s.failing_clean > 0 then 'not_met' when s.unknown_clean > 0 then 'no_data' else 'met' end)
            as provisional
    from school_rule s
    {{ cfg_join('method_constants', 'mn', 'left(s.county_code, 2)', {'constant': "'school_min_indicators_met'"}) }}
    {{ cfg_join('method_constants', 'sh', 'left(s.county_code, 2)', {'constant': "'school_min_share_of_standard'"}) }}
),

items as (
    select * from resource_items
    union all by name select * from school_rule_items
    union all by name select * from census_items
    union all by name select * from return_items
)

select
    cast(i.county_code as varchar) as county_code,
    cast(i.year as integer) as year,
    cast(i.part as varchar) as part,
    cast(i.item as varchar) as item,
    cast(i.level as varchar) as level,
    cast(coalesce(d.name_zh, r.name_zh) as varchar) as name_zh,
    cast(coalesce(d.name_en, r.name_en) as varchar) as name_en,
    cast(i.value as double) as value,
    cast(i.value_2 as double) as value_2,
    cast(i.field_1 as varchar) as field_1,
    cast(i.field_2 as varchar) as field_2,
    cast(i.threshold as double) as cv_threshold,
    cast(i.county_value as double) as county_value,
    cast(i.standard as double) as standard,
    cast(i.schools_failing as integer) as schools_failing,
    cast(i.schools_checked as integer) as schools_checked,
    cast(i.schools_unknown as integer) as schools_unknown,
    cast(i.detail as varchar) as detail,
    cast(i.requirement_zh || ' / ' || i.requirement_en as varchar) as requirement,
    cast(i.requirement_zh as varchar) as requirement_zh,
    cast(i.requirement_en as varchar) as requirement_en,
    cast(case
        when i.ok_1 = false or i.ok_2 = false then 'not_met'
        when i.ok_1 is null or i.ok_2 is null then 'no_data'
        else 'met'
    end as varchar) as status,
    cast(i.provisional as boolean) as provisional
from items i
left join {{ ref('indicators') }} d on d.indicator = i.item
left join {{ ref('scorecard_requirements') }} r on r.province_code = '*' and r.item = i.item
