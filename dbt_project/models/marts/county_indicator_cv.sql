{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Per county, year, level, method and indicator: county value (total resource / total students) and the
-- students-weighted CV over the in-scope parts as submitted (spec §2); the 2017 threshold and whether it is met.
-- Beside them the same figures without the parts whose inputs carry a 'warning' flag (issue 4), and
-- `provisional` when those parts decide the verdict.

-- The school part values come from school_indicators (the same rows as int_school_indicator_values, written once);
-- NOT MATERIALIZED: weighted_cv reads them twice, and scanning the table twice beats buffering 27 M national rows
-- (31 s -> 25 s, the same rows; macros/theil.sql).
with v as not materialized (
    select s.*, left(s.county_code, 2) as province_code, s.resource is not null as resource_reported, d.scale
    from {{ ref('school_indicators') }} s
    join {{ ref('indicators') }} d using (method, indicator)
    where {{ year_filter('s.year') }}
),

-- the official CV (every part that reported the resource) and the clean one (without the warning-flagged parts) in
-- one two-pass computation (macros/balance.sql), with the counts of each group
cvs as ({{ weighted_cv('v', ['year', 'county_code', 'level', 'method', 'indicator'],
                       variants={'': 'resource_reported', '_clean': 'resource_reported and not warning_flagged'},
                       extra=['any_value(_r.province_code) as province_code',
                              'count(*) filter (where not _r.resource_reported) as schools_not_reported',
                              'count(*) filter (where _r.resource_reported and _r.warning_flagged) as flagged_schools']) }}),

census as (
    select * from {{ ref('stg_census_schools') }}
    where {{ year_filter() }}
),

totals as (
    -- every school of the county with students at the level, special schools and teaching points included
    select year, county_code, 'primary' as level,
           count(*) filter (where primary_students > 0) as total_schools,
           coalesce(sum(primary_students) filter (where primary_students > 0), 0) as total_students
    from census group by year, county_code
    union all
    select year, county_code, 'junior' as level,
           count(*) filter (where junior_students > 0),
           coalesce(sum(junior_students) filter (where junior_students > 0), 0)
    from census group by year, county_code
),

joined as (
    select
        g.*,
        case when g.method = 'quality' then {{ cfg('thr', 'threshold') }} end as cv_threshold,
        t.total_schools, t.total_students
    from cvs g
    left join totals t using (year, county_code, level)
    {{ cfg_join('cv_thresholds', 'thr', 'g.province_code', {'method': "'quality'", 'level': 'g.level', 'measure': "'indicator'"}) }}
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(method as varchar) as method,
    cast(indicator as varchar) as indicator,
    cast(county_value as double) as county_value,
    cast(cv as double) as cv,
    cast(coalesce(schools, 0) as integer) as schools,
    cast(coalesce(students, 0) as double) as students,
    cast(cv_threshold as double) as cv_threshold,
    cast(cv <= cv_threshold as boolean) as meets_cv,
    cast(schools_not_reported as integer) as schools_not_reported,
    cast(total_schools as integer) as total_schools,
    cast(total_students as double) as total_students,
    cast(flagged_schools as integer) as flagged_schools,
    cast(county_value_clean as double) as county_value_clean,
    cast(cv_clean as double) as cv_clean,
    cast(coalesce(schools_clean, 0) as integer) as schools_clean,
    cast(coalesce(students_clean, 0) as double) as students_clean,
    cast(cv_clean <= cv_threshold as boolean) as meets_cv_clean,
    cast(method = 'quality' and flagged_schools > 0
         and (cv <= cv_threshold) is distinct from (cv_clean <= cv_threshold) as boolean) as provisional
from joined
