{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- The full 2017 scorecard per county and year (spec §4): Q1-Q7 per level (the CV against its threshold; the detail
-- gives the county value and the parts below standard), G01-G15 (G03-G05 from the census, counting the schools that
-- fail), E01-E09 and S01 from the county return. status: met / not_met / no_data (not reported).

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
        {{ cfg('r', 'requirement_zh') }} || ' / ' || {{ cfg('r', 'requirement_en') }} as requirement
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
        case when q.field_2 is not null then
            q.field_1 || '=' || coalesce(cast(v1.num_value as varchar), 'NULL') || '; '
            || q.field_2 || '=' || coalesce(cast(v2.num_value as varchar), 'NULL')
        end as detail,
        q.requirement,
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
        '不达标学校 schools failing: ' || coalesce(g.failing, 0) || ' / ' || coalesce(g.schools, 0)
            || '; 未报 not reported: ' || coalesce(g.unknown, 0) as detail,
        q.requirement,
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
        '县域值 county value: ' || coalesce(cast(round(cv.county_value, 4) as varchar), 'NULL')
            || '; 标准 standard: ' || coalesce(cast(b.standard as varchar), 'NULL')
            || '; 低于标准学校 parts below standard: ' || coalesce(b.below_standard, 0) || ' / ' || cv.schools as detail,
        '差异系数 CV ≤ ' || cast(cv.cv_threshold as varchar) || ' / CV at most ' || cast(cv.cv_threshold as varchar) as requirement,
        cv.meets_cv as ok_1,
        true as ok_2,
        cv.provisional
    from {{ ref('county_indicator_cv') }} cv
    left join below b using (year, county_code, level, indicator)
    where cv.method = 'quality' and {{ year_filter('cv.year') }}
),

items as (
    select * from resource_items
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
    cast(i.detail as varchar) as detail,
    cast(i.requirement as varchar) as requirement,
    cast(case
        when i.ok_1 = false or i.ok_2 = false then 'not_met'
        when i.ok_1 is null or i.ok_2 is null then 'no_data'
        else 'met'
    end as varchar) as status,
    cast(i.provisional as boolean) as provisional
from items i
left join {{ ref('indicators') }} d on d.indicator = i.item
left join {{ ref('scorecard_requirements') }} r on r.province_code = '*' and r.item = i.item
