{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year'],
          pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ requested_years_condition('year') }}{% endif %}") }}
-- pre_hook: delete+insert deletes only the years present in the new rows; a year whose flags were all confirmed,
-- corrected or resubmitted away (issue 15) has none, and its old rows would stay. The hook empties the window first.
-- The schools whose flags change a figure (spec §5: "a report that shows a trend or projection says it is computed
-- without the flagged parts and lists those schools"; census-format.md §4: "analysts can see how the flagged schools
-- move each indicator"). One row per warning flag on an input of an indicator (seed indicator_inputs) of a school part
-- that is in that indicator's official CV: the part is left out of the clean figure. Beside the flag: the part's value
-- as submitted, and the county's official and clean figures of that indicator (the clean ones leave out every
-- flagged part of the county and year, not this one alone), and whether the flagged parts decide its verdict.

with flags as (
    -- a rule may flag one field more than once (e.g. once per section): one row per rule and field
    select f.year, f.school_code, f.rule_id, f.field, i.method, i.indicator, i.level,
           min(f.value) as value,
           string_agg(distinct f.expected, '; ' order by f.expected) as expected,
           string_agg(distinct f.detail, '; ' order by f.detail) as detail
    from {{ ref('stg_submission_flags') }} f
    join {{ ref('indicator_inputs') }} i on i.field = f.field
    where f.severity = 'warning' and f.school_code is not null and not coalesce(f.confirmed, false)
      and {{ year_filter('f.year') }}
    group by f.year, f.school_code, f.rule_id, f.field, i.method, i.indicator, i.level
)

select
    cast(s.county_code as varchar) as county_code,
    cast(s.year as integer) as year,
    cast(s.school_code as varchar) as school_code,
    cast(s.level as varchar) as level,
    cast(s.method as varchar) as method,
    cast(s.indicator as varchar) as indicator,
    cast(f.rule_id as varchar) as rule_id,
    cast(f.field as varchar) as field,
    cast(f.value as double) as submitted_value,
    cast(f.expected as varchar) as expected,
    cast(f.detail as varchar) as flag_detail,
    cast(s.value as double) as part_value,
    cast(c.county_value as double) as county_value,
    cast(c.county_value_clean as double) as county_value_clean,
    cast(c.cv as double) as cv,
    cast(c.cv_clean as double) as cv_clean,
    cast(c.cv_threshold as double) as cv_threshold,
    cast(c.provisional as boolean) as provisional
from {{ ref('school_indicators') }} s
join flags f
    on f.year = s.year and f.school_code = s.school_code and f.method = s.method
    and f.indicator = s.indicator and f.level = s.level
join {{ ref('county_indicator_cv') }} c
    on c.county_code = s.county_code and c.year = s.year and c.level = s.level
    and c.method = s.method and c.indicator = s.indicator
where s.value is not null and {{ year_filter('s.year') }}
